import json
import logging

import pytest

from harness.report.redact import (
    RedactingFilter,
    Redactor,
    find_planted,
    redact_file,
    redact_tree,
    write_report_file,
)

TOKEN = "Zq9-planted-admin-token-value"


@pytest.fixture
def redactor():
    return Redactor([(TOKEN, "admin_token")])


def test_a_live_secret_is_replaced_wherever_it_appears(redactor):
    text = f"GET /admin/faults with {TOKEN} and again{TOKEN}"

    assert redactor.text(text) == (
        "GET /admin/faults with [redacted:admin_token] and again[redacted:admin_token]"
    )


def test_a_secret_added_later_is_redacted_from_then_on(redactor):
    assert redactor.text("key K3y-0f-the-pager") == "key K3y-0f-the-pager"

    redactor.add_secret("K3y-0f-the-pager", "credential")

    assert redactor.text("key K3y-0f-the-pager") == "key [redacted:credential]"


def test_authorization_headers_lose_their_credentials(redactor):
    assert redactor.text("Authorization: Bearer abc.def-123") == (
        "Authorization: [redacted:secret]"
    )
    assert redactor.text('{"authorization": "Basic dXNlcjpwYXNz"}') == (
        '{"authorization": "[redacted:secret]"}'
    )
    assert redactor.text('-H "Authorization: Bearer xyzxyzxyz"') == (
        '-H "Authorization: [redacted:secret]"'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail zelda.q@planted.example", "mail [redacted:email]"),
        ("call +44 7700 900123 now", "call [redacted:phone] now"),
        ("call 07700 900123 now", "call [redacted:phone] now"),
        ("card 4111 1111 1111 1111.", "card [redacted:card]."),
        ("card 4111-1111-1111-1111", "card [redacted:card]"),
        ("iban GB82 WEST 1234 5698 7654 32", "iban [redacted:bank]"),
        ("iban DE89370400440532013000", "iban [redacted:bank]"),
    ],
)
def test_patterns_catch_what_no_list_names(redactor, text, expected):
    assert redactor.text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails the Luhn check",
        "iban GB00 WEST 1234 5698 7654 32 fails mod 97",
        "2026-12-05 04:24:55,324 INFO 1764912345678 ms 0.123 s",
        "run 20261205-042356-claims-customer-latency-cea0",
        "trace 5671d44b71aa29b5458a7c59c0bac93c span d3e66da7cebc9287",
        "listening on address=127.0.0.1:9090",
        "POST,POST /claims,\"StepFailed('HTTP 503, expected 201')\",27",
        "uuid 00000000-0000-4000-8000-00000000c057 count 1234567890",
        "latency,5.411111111111111111,1.0998640000252635,351.0441234567,0.01234567890",
        "[[10.044712345678912, 0.5], [2.4111111111111111, null]]",
    ],
)
def test_ordinary_harness_text_is_left_alone(redactor, text):
    assert redactor.text(text) == text


def test_personal_fields_in_json_text_and_reprs_are_redacted(redactor):
    payload = json.dumps(
        {
            "name": "Zelda Quux",
            "email": "zq@x.example",
            "date_of_birth": "1990-01-02",
            "address": "1 Planted Row",
        }
    )
    assert redactor.text(f"answer was {payload}") == (
        'answer was {"name": "[redacted:name]", "email": "[redacted:email]", '
        '"date_of_birth": "[redacted:date_of_birth]", "address": "[redacted:address]"}'
    )
    assert redactor.text("{'name': 'Zelda', 'dob': '1990-01-02'}") == (
        "{'name': '[redacted:name]', 'dob': '[redacted:date_of_birth]'}"
    )


def test_a_name_field_stays_when_nothing_personal_is_near_it(redactor):
    text = '{"name": "no_double_charge", "held": true}'

    assert redactor.text(text) == text


def test_values_are_redacted_by_field_and_pattern(redactor):
    value = {
        "customer": {"customer_id": "CUST-1", "name": "Zelda", "phone": "+4477009001"},
        "results": [{"name": "no_double_charge", "held": True, "checked": 3}],
        "note": f"token {TOKEN}",
        "series": [[1.0, 0.5], [2.0, None]],
        "api_key": "k",
    }

    assert redactor.value(value) == {
        "customer": {
            "customer_id": "CUST-1",
            "name": "[redacted:name]",
            "phone": "[redacted:phone]",
        },
        "results": [{"name": "no_double_charge", "held": True, "checked": 3}],
        "note": "token [redacted:admin_token]",
        "series": [[1.0, 0.5], [2.0, None]],
        "api_key": "[redacted:secret]",
    }


def test_redaction_is_idempotent(redactor):
    text = f'Bearer {TOKEN} {{"name": "Z", "email": "z@q.example"}} +44 7700 900123'

    once = redactor.text(text)

    assert redactor.text(once) == once


def test_the_log_filter_redacts_message_arguments_and_tracebacks(redactor):
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "sent %s to %s", (TOKEN, "a@b.example"), None
    )
    try:
        raise ValueError({"email": "a@b.example"})
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()

    assert RedactingFilter(redactor).filter(record)

    formatted = logging.Formatter().format(record)
    assert TOKEN not in formatted and "a@b.example" not in formatted
    assert "sent [redacted:admin_token] to [redacted:email]" in formatted


def test_write_report_file_redacts(tmp_path, redactor):
    path = write_report_file(tmp_path / "summary.md", f"token {TOKEN}", redactor)

    assert path.read_text() == "token [redacted:admin_token]"


def test_redact_file_keeps_json_lines_parseable(tmp_path, redactor):
    path = tmp_path / "journal.jsonl"
    path.write_text(
        json.dumps({"kind": "x", "fields": {"email": "a@b.example"}})
        + "\nnot json a@b.example\n"
    )

    assert redact_file(path, redactor)

    first, second = path.read_text().splitlines()
    assert json.loads(first)["fields"]["email"] == "[redacted:email]"
    assert second == "not json [redacted:email]"
    assert not redact_file(path, redactor), "nothing left to redact"


def test_redact_tree_leaves_binary_files_and_skipped_entries(tmp_path, redactor):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "mock.out").write_text(f"admin {TOKEN}")
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "x.log").write_text(f"admin {TOKEN}")
    (tmp_path / "blob").write_bytes(b"\x00\xff" + TOKEN.encode())

    changed = redact_tree(tmp_path, redactor, skip=["live"])

    assert changed == [tmp_path / "logs" / "mock.out"]
    assert (tmp_path / "logs" / "mock.out").read_text() == (
        "admin [redacted:admin_token]"
    )


def test_the_walker_finds_a_planted_value_in_an_unredacted_folder(tmp_path):
    # The live test's verdict comes from this walker: it must be able to fail.
    (tmp_path / "load").mkdir()
    (tmp_path / "load" / "failures.csv").write_text("POST,x,zelda@planted.example\n")
    (tmp_path / "data.bin").write_bytes(b"\x00Zelda Plantedname\x00")
    (tmp_path / "journal.json").write_text(json.dumps({"n": "Zoë Planted"}))

    found = find_planted(
        tmp_path, ["zelda@planted.example", "Zelda Plantedname", "Zoë Planted", "x"]
    )

    assert found["zelda@planted.example"] == ["load/failures.csv"]
    assert found["Zelda Plantedname"] == ["data.bin"]
    assert found["Zoë Planted"] == ["journal.json"]


def test_the_walker_finds_nothing_once_the_folder_is_redacted(tmp_path, redactor):
    (tmp_path / "failures.csv").write_text(f"POST,x,zelda@planted.example,{TOKEN}\n")

    redact_tree(tmp_path, redactor)

    assert find_planted(tmp_path, ["zelda@planted.example", TOKEN]) == {}


def test_the_command_line_log_redacts_the_secrets_runs_add_later(caplog):
    from harness.cli import _configure_logging

    redactor = _configure_logging(logging.INFO)
    try:
        redactor.add_secret(TOKEN, "admin_token")
        logging.getLogger("harness.x").warning("sent %s to %s", TOKEN, "a@b.example")
    finally:
        for handler in logging.getLogger().handlers:
            for installed in [
                f for f in handler.filters if isinstance(f, RedactingFilter)
            ]:
                handler.removeFilter(installed)

    assert TOKEN not in caplog.text and "a@b.example" not in caplog.text
    assert "sent [redacted:admin_token] to [redacted:email]" in caplog.text
