"""docs/journal.schema.json describes journal.json as the runner writes it."""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from harness.experiment.runner import RunOptions, run_experiment
from harness.experiment.verdict import Status

REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO / "docs" / "journal.schema.json"
EXPERIMENT = REPO / "experiments" / "claims-customer-latency.yaml"
# Keys a reader must treat as optional: absent in older journals, or written
# only by some runs.
OPTIONAL = {"impact", "roles", "rca", "config"}


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def errors(journal: dict) -> list[str]:
    validator = Draft202012Validator(
        schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(journal)
    ]


def assert_valid_journal(journal: dict) -> None:
    """For other tests: a journal written by a run matches the schema."""
    assert errors(journal) == []


def valid_journal() -> dict:
    """A small journal of a passed run, with every optional key."""
    return {
        "schema_version": 2,
        "run_id": "20261205-040000-claims-customer-latency-ab12",
        "experiment": "claims-customer-latency",
        "hypothesis": "h",
        "source": "experiments/claims-customer-latency.yaml",
        "deliberate_breakage": {"runbooks_disabled": ["claims-customer-fallback"]},
        "verdict": {
            "status": "passed",
            "reason": "",
            "checks": [
                {"expectation": "e", "predicted": "p", "observed": "o", "held": True}
            ],
            "measurements": {"fault_injected_s": 20.0, "time_to_detect_s": {"A": 5.0}},
        },
        "deadlines": {
            "detect": {"A[page]": {"total_s": 17.2, "terms": {"window_fill_s": 8.6}}},
            "floor": {},
            "resolve": {},
        },
        "load": {"requests": 10, "failures": 1, "by_journey": {}},
        "integrity": [
            {"name": "n", "held": True, "checked": 3, "violations": 0, "examples": []}
        ],
        "impact": {
            "requests": 10,
            "failed_requests": 1,
            "journeys": {"file_a_claim": {"started": 3, "completed": 2, "failed": 1}},
            "journeys_affected": ["file_a_claim"],
            "budget": [
                {
                    "slo": "claims-api-availability",
                    "service": "claims-api",
                    "sli": "availability",
                    "target": 0.99,
                    "good": 9.0,
                    "bad": 1.0,
                    "total": 10.0,
                    "allowed_bad": 0.1,
                    "consumed_ratio": 10.0,
                    "period_fraction": 0.0139,
                    "window": {"from_s": 5.0, "to_s": 65.0},
                }
            ],
        },
        "roles": {
            "incident_commander": None,
            "communications_lead": None,
            "technical_lead": None,
            "source": None,
        },
        "rca": {
            "guess": {
                "component": "customer-api",
                "via": "claims-api_to_customer-api",
                "symptom": "latency",
                "confidence": 0.8,
                "summary": "s",
            },
            "evidence": [],
            "candidates": [],
            "injected": [],
            "correct": True,
            "method": "m",
        },
        "events": [
            {
                "kind": "run_started",
                "t_s": 0.0,
                "wall": "2026-12-05T04:00:00.000+00:00",
                "fields": {},
            }
        ],
        "series": {"slo_ok:claims-api": [[1.0, 1.0], [2.0, None]]},
    }


def test_the_schema_is_a_valid_2020_12_schema():
    Draft202012Validator.check_schema(schema())

    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_a_fabricated_valid_journal_validates_with_and_without_optional_keys():
    journal = valid_journal()
    assert_valid_journal(journal)

    for key in OPTIONAL & set(journal):
        del journal[key]
    assert_valid_journal(journal)


@pytest.mark.parametrize("key", sorted(schema()["required"]))
def test_a_journal_missing_a_required_key_fails(key):
    journal = valid_journal()
    del journal[key]

    assert any(f"'{key}' is a required property" in e for e in errors(journal))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("schema_version",), 3, "2 was expected"),
        (("run_id",), 7, "7 is not of type 'string'"),
        (("verdict", "status"), "ok", "'ok' is not one of"),
        (("verdict", "checks", 0, "held"), "yes", "'yes' is not of type 'boolean'"),
        (("events", 0, "t_s"), "1.0", "'1.0' is not of type 'number'"),
        (("series", "slo_ok:claims-api", 0), [1.0], "[1.0] is too short"),
        (("integrity", 0, "violations"), -1, "-1 is less than the minimum of 0"),
        (("impact", "budget", 0, "consumed_ratio"), "high", "'high' is not of type"),
        (("impact", "budget", 0, "sli"), "speed", "'speed' is not one of"),
        (("roles", "technical_lead"), 42, "42 is not of type 'string', 'null'"),
        (("rca", "guess", "confidence"), 1.5, "1.5 is greater than the maximum"),
        (("load",), [], "[] is not of type 'object', 'null'"),
    ],
)
def test_a_journal_with_a_wrong_type_fails(path, value, message):
    journal = valid_journal()
    parent = journal
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value

    found = errors(journal)

    assert any(message in e for e in found), found


def test_an_undocumented_top_level_key_fails():
    journal = valid_journal()
    journal["surprise"] = 1

    assert any("'surprise' was unexpected" in e for e in errors(journal))


@pytest.fixture(scope="module")
def early_death(tmp_path_factory) -> Path:
    """The run folder of a run that dies before the estate starts: no
    Prometheus on PATH (a second, and no process is started)."""
    reports = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(reports))
        result = run_experiment(EXPERIMENT, RunOptions(reports_dir=reports))
    assert result.verdict.status is Status.ERROR
    return result.report_dir


@pytest.fixture(scope="module")
def written_journal(early_death) -> dict:
    return json.loads((early_death / "journal.json").read_text())


def test_a_journal_the_runner_writes_validates(written_journal):
    assert_valid_journal(written_journal)


def test_the_required_keys_are_what_the_runner_writes(written_journal):
    required = set(schema()["required"])
    written = set(written_journal)

    assert required <= written, "the schema requires a key the runner never writes"
    assert written - required <= OPTIONAL, (
        "the runner writes a key the schema does not require; require it, or "
        "add it to the optional keys here and in docs/journal.md"
    )
    assert set(schema()["properties"]) == required | OPTIONAL


def test_a_run_that_died_early_still_gets_its_postmortem(early_death):
    text = (early_death / "postmortem.md").read_text()

    assert "Not measured: the run ended before its load and monitoring ran." in text
    assert "apt-get install" in text.split("## Action items", 1)[1]


def test_every_top_level_key_is_documented_in_journal_md():
    text = (REPO / "docs" / "journal.md").read_text()

    missing = [key for key in schema()["properties"] if f'"{key}"' not in text]

    assert missing == []


def test_the_journal_docs_link_the_schema():
    assert "journal.schema.json" in (REPO / "docs" / "journal.md").read_text()
