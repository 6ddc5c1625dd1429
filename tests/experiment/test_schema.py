"""Experiment files: valid ones load whole, bad ones are refused precisely."""

from pathlib import Path

import pytest
import yaml

from harness.config import load_estate
from harness.errors import ConfigError
from harness.experiment.schema import load_experiment

REPO = Path(__file__).resolve().parents[2]
ALERTS = {
    "ClaimsApiAvailabilityBurnRate": ("page", "ticket"),
    "ClaimsApiLatencyBurnRate": ("page", "ticket"),
    "ServiceDown": ("page",),
}
EXAMPLE = REPO / "experiments" / "claims-customer-latency.yaml"


@pytest.fixture(scope="module")
def estate():
    return load_estate(REPO / "config")


def base() -> dict:
    return yaml.safe_load(
        (REPO / "experiments/claims-customer-latency.yaml").read_text()
    )


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_library_experiment_is_valid(estate):
    exp = load_experiment(
        REPO / "experiments/claims-customer-latency.yaml", estate, ALERTS
    )

    assert exp.faults[0].route == "claims-api_to_customer-api"
    assert exp.faults[0].attributes == {"latency_ms": 1500.0, "jitter_ms": 0.0}
    assert exp.fault_window_s == 35


def change(data: dict, dotted: str, value) -> dict:
    target = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    target[parts[-1]] = value
    return data


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        (
            "faults.0.route",
            "claims-api_to_nowhere",
            "field 'faults[0].route' is 'claims-api_to_nowhere'; expected a route",
        ),
        (
            "faults.0.latency_ms",
            -5,
            "field 'faults[0].latency_ms' is -5; expected a number from 0 to 600000",
        ),
        ("faults.0.latency_ms", "slow", "field 'faults[0].latency_ms' is 'slow'"),
        (
            "faults.0.kind",
            "meteor",
            "expected one of: bad_deploy, bandwidth, blackhole",
        ),
        (
            "faults.0.duration_s",
            0,
            "field 'faults[0].duration_s' is 0; expected a number from 1 to 3600",
        ),
        ("load.arrival_rate_per_s", 0, "field 'load.arrival_rate_per_s' is 0"),
        ("load.journey", "buy_a_boat", "field 'load.journey' is 'buy_a_boat'"),
        (
            "expect.alerts.0.name",
            "NoSuchAlert",
            "field 'expect.alerts[0].name' is 'NoSuchAlert'",
        ),
        ("expect.runbooks.0.name", "nope", "field 'expect.runbooks[0].name' is 'nope'"),
        ("expect.slo_recovered.within_s", 2, "expected at least 6 s"),
        (
            "steady_state.slos",
            ["billing-api"],
            "field 'steady_state.slos[0]' is 'billing-api'",
        ),
        ("tags", ["nightly"], "field 'tags' is ['nightly']"),
        ("name", "Has Spaces", "field 'name' is 'Has Spaces'"),
        # Names become folder names: one too long for the file system is
        # refused here, not when the run folder cannot be made.
        ("name", "a" * 65, "expected 1 to 64 lower-case letters"),
        ("name", "a" * 300, "... (300 characters); expected 1 to 64"),
        ("faults.0.name", "é-fault", "field 'faults[0].name' is 'é-fault'"),
        ("faults.0.lattency_ms", 3, "unknown field 'faults[0].lattency_ms'"),
        ("faults.0.latency_ms", float("inf"), "field 'faults[0].latency_ms' is inf"),
        ("faults.0.duration_s", 10**9, "is 1000000000; expected a number from 1"),
        ("steady_state.duration_s", 10**9, "expected a number from 1 to 3600"),
        ("hypothesis", None, "field 'hypothesis' is empty (null)"),
        ("expect.alerts.0.fires", "yes", "field 'expect.alerts[0].fires' is 'yes'"),
    ],
)
def test_bad_input_names_field_value_and_what_is_accepted(
    tmp_path, estate, dotted, value, expected
):
    path = write(tmp_path, change(base(), dotted, value))

    with pytest.raises(ConfigError) as caught:
        load_experiment(path, estate, ALERTS)

    assert expected in str(caught.value)
    assert str(path) + ":" in str(caught.value), "the message names file and line"


def test_the_line_points_at_the_bad_field(tmp_path, estate):
    path = write(tmp_path, change(base(), "faults.0.latency_ms", -1))
    line_no = next(
        i
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if "latency_ms" in line
    )

    with pytest.raises(ConfigError, match=rf"{path}:{line_no}:"):
        load_experiment(path, estate, ALERTS)


def test_an_experiment_that_expects_nothing_is_refused(tmp_path, estate):
    path = write(tmp_path, change(base(), "expect", {}))

    with pytest.raises(ConfigError, match="at least one of alerts, runbooks"):
        load_experiment(path, estate, ALERTS)


def test_a_missing_field_is_called_missing(tmp_path, estate):
    data = base()
    del data["load"]

    with pytest.raises(ConfigError, match="field 'load' is missing"):
        load_experiment(write(tmp_path, data), estate, ALERTS)


def test_the_same_alert_twice_is_refused(tmp_path, estate):
    data = base()
    first = data["expect"]["alerts"][0]
    data["expect"]["alerts"].append(
        {**first, "labels": dict(first["labels"]), "annotations": {}, "resolves": False}
    )

    with pytest.raises(
        ConfigError,
        match=r"alert 'ClaimsApiAvailabilityBurnRate\[page\]' is used twice",
    ):
        load_experiment(write(tmp_path, data), estate, ALERTS)


def test_a_field_written_twice_is_refused_with_both_lines(tmp_path, estate):
    path = tmp_path / "twice.yaml"
    path.write_text("name: a\nname: b\n")

    with pytest.raises(
        ConfigError,
        match=r"twice.yaml:2: field 'name' appears twice "
        r"\(first on line 1\)",
    ):
        load_experiment(path, estate, ALERTS)


def test_yaml_aliases_are_refused_before_they_expand(tmp_path, estate):
    path = tmp_path / "laughs.yaml"
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}] " for i in range(8)]
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(ConfigError, match=r"laughs.yaml:1: YAML anchor '&a'"):
        load_experiment(path, estate, ALERTS)


def test_a_merge_key_is_refused(tmp_path, estate):
    path = tmp_path / "merge.yaml"
    path.write_text(
        EXAMPLE.read_text().replace(
            "  journey: file_a_claim\n",
            "  journey: file_a_claim\n  <<: {journey: pay_a_premium}\n",
        )
    )

    with pytest.raises(ConfigError, match=r"merge.yaml:\d+: YAML merge key '<<'"):
        load_experiment(path, estate, ALERTS)


def test_an_anchor_alone_is_refused(tmp_path, estate):
    path = tmp_path / "anchor.yaml"
    path.write_text("name: x\nslos: &s [claims-api]\n")

    with pytest.raises(ConfigError, match=r"anchor.yaml:2: YAML anchor '&s'"):
        load_experiment(path, estate, ALERTS)


@pytest.mark.parametrize("depth", [33, 500, 5000])
def test_deep_nesting_is_refused_with_its_line_not_a_crash(tmp_path, estate, depth):
    path = tmp_path / "deep.yaml"
    path.write_text("name: x\nfaults: " + "[" * depth + "]" * depth + "\n")

    with pytest.raises(ConfigError, match=r"deep.yaml:2: .* nested 33 deep"):
        load_experiment(path, estate, ALERTS)


def test_a_file_that_is_not_text_is_refused(tmp_path, estate):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")

    with pytest.raises(ConfigError, match="binary.yaml: not UTF-8 text"):
        load_experiment(path, estate, ALERTS)


def test_not_yaml_is_refused_with_the_file(tmp_path, estate):
    path = tmp_path / "broken.yaml"
    path.write_text("faults: [\n")

    with pytest.raises(ConfigError, match="not valid YAML"):
        load_experiment(path, estate, ALERTS)


def test_a_missing_file_is_refused(tmp_path, estate):
    with pytest.raises(ConfigError, match="cannot read"):
        load_experiment(tmp_path / "absent.yaml", estate, ALERTS)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_a_number_yaml_reads_as_text_is_explained(tmp_path, estate):
    path = tmp_path / "e.yaml"
    path.write_text(EXAMPLE.read_text().replace("latency_ms: 1500", "latency_ms: 1e12"))

    with pytest.raises(ConfigError, match=r"is '1e12' \(text to YAML; write numbers"):
        load_experiment(path, estate, ALERTS)


def test_a_long_value_is_cut_in_the_message(tmp_path, estate):
    path = tmp_path / "e.yaml"
    path.write_text(
        EXAMPLE.read_text().replace(
            "slos: [claims-api, customer-api, policy-api]",
            "slos: " + str([[1] * 300]),
        )
    )

    with pytest.raises(ConfigError) as refused:
        load_experiment(path, estate, ALERTS)

    assert "... (" in str(refused.value)
    assert len(str(refused.value)) < 400


def _with_alert(tmp_path, **fields):
    data = base()
    data["expect"]["alerts"][0].update(fields)
    return write(tmp_path, data)


def test_alert_context_and_burn_fields_are_read(estate, tmp_path):
    from harness.experiment.deadlines import load_checked

    path = _with_alert(
        tmp_path,
        severity="page",
        error_ratio=0.5,
        margin_s=2,
        labels={"team": "claims-platform"},
        annotations=["runbook", "dashboard"],
    )

    alert = load_checked(path, estate).alerts[0]

    assert alert.key == "ClaimsApiAvailabilityBurnRate[page]"
    assert alert.error_ratio == 0.5 and alert.margin_s == 2
    assert alert.labels == (("team", "claims-platform"),)
    assert alert.annotations == (("runbook", ""), ("dashboard", ""))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"severity": "urgent"},
            r"severity' is 'urgent'; expected one of: page, ticket",
        ),
        ({"error_ratio": 1.5}, r"error_ratio' is 1.5; expected a number from"),
        ({"labels": {"team": 3}}, r"labels.team' is 3; expected text"),
        ({"annotations": "runbook"}, r"annotations' is 'runbook'; expected a list"),
        ({"inhibited": True, "fires": True}, r"fires' is true; expected false"),
        # 5% errors stay under every page threshold: no deadline can exist.
        ({"error_ratio": 0.05}, r"error_ratio 0.05 for 35 s; the burn-rate arithmetic"),
        ({"labels": {"team": "payments-platform"}}, r"which no generated rule carries"),
    ],
)
def test_alert_expectations_no_rule_can_meet_are_refused(
    estate, tmp_path, fields, message
):
    from harness.experiment.deadlines import load_checked

    with pytest.raises(ConfigError, match=message):
        load_checked(_with_alert(tmp_path, **fields), estate)


def test_pages_and_no_alerts_are_read(estate, tmp_path):
    data = base()
    data["expect"].update(pages=1, no_alerts=False, quiet_steady_state=False)

    exp = load_experiment(write(tmp_path, data), estate, ALERTS)

    assert exp.pages == 1 and not exp.no_alerts and not exp.quiet_steady_state
    data["expect"]["pages"] = -1
    with pytest.raises(ConfigError, match=r"expect.pages' is -1; expected an integer"):
        load_experiment(write(tmp_path, data), estate, ALERTS)


def test_no_page_at_all_is_an_expectation(estate, tmp_path):
    data = base()
    data["expect"] = {"pages": 0}

    assert load_experiment(write(tmp_path, data), estate, ALERTS).pages == 0


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ({"no_alerts": True, "pages": 2}, r"expect.pages' is 2; expected 0"),
        (
            {"no_alerts": True, "alerts": [{"name": "ServiceDown"}]},
            r"expect.no_alerts' is true; expected false while alerts are expected",
        ),
    ],
)
def test_expectations_that_contradict_each_other_are_refused(
    estate, tmp_path, expect, message
):
    data = base()
    data["expect"] = expect

    with pytest.raises(ConfigError, match=message):
        load_experiment(write(tmp_path, data), estate, ALERTS)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"labels": {"tema": "claims-platform"}},
            r"exp.yaml:\d+: field 'labels.tema' names a label",
        ),
        (
            {"annotations": ["runbok"]},
            r"field 'annotations.runbok' names an annotation",
        ),
    ],
)
def test_label_and_annotation_names_no_rule_carries_are_refused(
    estate, tmp_path, fields, message
):
    from harness.experiment.deadlines import load_checked

    with pytest.raises(ConfigError, match=message):
        load_checked(_with_alert(tmp_path, **fields), estate)
