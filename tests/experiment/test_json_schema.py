"""The published JSON Schema agrees with the loader: same fields, same verdicts."""

import json
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from harness.config import load_estate
from harness.errors import ConfigError
from harness.experiment.fault_schema import COMMON_FIELDS, FAULT_KINDS
from harness.experiment.json_schema import experiment_schema, render
from harness.experiment.schema import load_experiment
from harness.observe.rules import alert_catalogue

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "docs" / "experiment.schema.json"
DELETE = object()

# One valid fault of every kind, with each optional field it takes.
FAULTS = {
    "latency": {"route": "claims-api_to_customer-api", "latency_ms": 100},
    "outage": {"route": "claims-api_to_customer-api"},
    "reset": {"route": "claims-api_to_customer-api"},
    "blackhole": {"route": "claims-api_to_customer-api"},
    "bandwidth": {"route": "claims-api_to_customer-api", "rate_kbps": 10},
    "error": {"service": "claims-api", "status_code": 500, "path_prefix": "/claims"},
    "slow": {"service": "fraud-detection", "delay_ms": 200, "method": "post"},
    "bad_deploy": {"service": "policy-api", "version": "v2", "error_rate": 0.5},
    "pool_exhaustion": {"service": "claims-api", "dependency": "policy-api"},
    "loop_block": {"service": "claims-api", "block_ms": 50, "interval_ms": 500},
    "concurrency_cap": {"service": "claims-api", "max_in_flight": 2},
    "cpu_burn": {"service": "claims-api", "threads": 2},
    "kill": {"service": "claims-api", "signal": "TERM"},
    "crash": {"service": "claims-api", "exit_code": 3, "after_ms": 10},
}


@pytest.fixture(scope="module")
def estate():
    return load_estate(REPO / "config")


@pytest.fixture(scope="module")
def validator():
    return Draft202012Validator(experiment_schema())


def full() -> dict:
    """A valid experiment using every object the schema describes."""
    doc = yaml.safe_load(
        (REPO / "experiments/claims-customer-latency.yaml").read_text()
    )
    doc["halt"] = [
        {"error_ratio": {"service": "policy-api", "above": 0.5}},
        {"budget_spent": {"service": "claims-api", "above": 0.5}},
        {"after_s": 300},
    ]
    doc["expect"].update(
        slos=[{"service": "policy-api", "state": "held"}],
        amplification=[{"edge": "claims-api_to_customer-api", "max": 3}],
        breaker=[{"edge": "claims-api_to_policy-api", "max_trial_calls": 1}],
        degraded_gracefully=[
            {"service": "claims-api", "route": "/claims", "min_success_ratio": 0.5}
        ],
        integrity=["accepted_claims_stored"],
    )
    return doc


def with_fault(kind: str) -> dict:
    doc = full()
    doc["faults"] = [{"name": "f", "kind": kind, "duration_s": 10, **FAULTS[kind]}]
    return doc


def fault(kind: str, dotted: str, value) -> dict:
    return change(with_fault(kind), f"faults.0.{dotted}", value)


def change(doc: dict, dotted: str, value) -> dict:
    parts = [int(p) if p.isdigit() else p for p in dotted.split(".")]
    target = doc
    for part in parts[:-1]:
        target = target[part]
    if value is DELETE:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return doc


def loader_verdict(tmp_path: Path, doc: dict, estate) -> str | None:
    """None when the loader accepts the document, else its message."""
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        load_experiment(path, estate, alert_catalogue(estate))
    except ConfigError as exc:
        return str(exc)
    return None


def schema_verdict(validator, doc: dict) -> str | None:
    """None when the schema accepts the document, else where and why not."""
    error = best_match(validator.iter_errors(doc))
    return None if error is None else f"{error.json_path}: {error.message}"


def same_place(loader_message: str, schema_message: str) -> bool:
    """Both point at one field, or one at the object holding the other's field."""
    field = re.search(r"field '([^']+)'", loader_message).group(1)
    path = schema_message.split(": ", 1)[0].removeprefix("$").removeprefix(".")
    return field.startswith(path) or path.startswith(field)


def test_the_published_file_is_what_the_generator_produces():
    assert PUBLISHED.read_text() == render(), (
        "docs/experiment.schema.json is stale: run "
        "`harness schema -o docs/experiment.schema.json`"
    )


def test_the_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(json.loads(PUBLISHED.read_text()))


@pytest.mark.parametrize(
    "path", sorted((REPO / "experiments").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_library_experiment_validates(path, validator):
    assert schema_verdict(validator, yaml.safe_load(path.read_text())) is None


GOOD = [
    ("full", full),
    *((f"fault-{kind}", lambda kind=kind: with_fault(kind)) for kind in FAULT_KINDS),
    (
        "closed-model-weighted",
        lambda: change(
            full(),
            "load",
            {"users": 5, "think_time_s": 1, "journeys": {"view_policy": 2}},
        ),
    ),
    (
        "bounds-at-their-limits",
        lambda: change(
            full(),
            "faults",
            [
                {
                    "name": "a",
                    "kind": "error",
                    "service": "claims-api",
                    "duration_s": 3540,
                    "status_code": 599,
                    "first_n": 1_000_000,
                },
                {
                    "name": "b",
                    "kind": "error",
                    "service": "policy-api",
                    "duration_s": 1,
                    "status_code": 400,
                },
                {
                    "name": "c",
                    "kind": "bandwidth",
                    "duration_s": 3600,
                    "route": "claims-api_to_policy-api",
                    "rate_kbps": 1_000_000,
                },
                {
                    "name": "d",
                    "kind": "concurrency_cap",
                    "service": "payment-api",
                    "duration_s": 10,
                    "max_in_flight": 10_000,
                },
                {
                    "name": "e",
                    "kind": "cpu_burn",
                    "service": "crm",
                    "duration_s": 240,
                    "threads": 4,
                },
                {
                    "name": "f",
                    "kind": "crash",
                    "service": "customer-api",
                    "duration_s": 10,
                    "exit_code": 255,
                    "after_ms": 60_000,
                },
                {
                    "name": "g",
                    "kind": "bad_deploy",
                    "service": "fraud-detection",
                    "duration_s": 10,
                    "version": "v",
                    "status_code": 599,
                    "delay_ms": 60_000,
                    "error_rate": 1,
                },
            ],
        ),
    ),
    (
        "journey-list",
        lambda: change(
            full(),
            "load",
            {"journeys": ["file_a_claim", "view_policy"], "arrival_rate_per_s": 1},
        ),
    ),
    (
        "breached-and-recovered",
        lambda: change(
            full(),
            "expect.slos",
            [
                {
                    "service": "customer-api",
                    "state": "breached_and_recovered",
                    "within_s": 20,
                }
            ],
        ),
    ),
    (
        "annotations-list",
        lambda: change(full(), "expect.alerts.0.annotations", ["runbook"]),
    ),
    ("error-first-n", lambda: change(with_fault("error"), "faults.0.first_n", 3)),
    ("header-match", lambda: fault("slow", "header_name", "x-a")),
    (
        "bad-deploy-delay-only",
        lambda: change(
            change(with_fault("bad_deploy"), "faults.0.error_rate", DELETE),
            "faults.0.delay_ms",
            300,
        ),
    ),
]


@pytest.mark.parametrize(("name", "make"), GOOD, ids=[name for name, _ in GOOD])
def test_good_documents_pass_both(name, make, tmp_path, estate, validator):
    doc = make()

    assert loader_verdict(tmp_path, doc, estate) is None
    assert schema_verdict(validator, doc) is None


BAD = [
    # unknown fields
    ("top-unknown", lambda: change(full(), "owner", "me")),
    ("load-unknown", lambda: change(full(), "load.rate", 3)),
    ("network-fault-service", lambda: fault("outage", "service", "claims-api")),
    ("app-fault-unknown", lambda: fault("slow", "latency_ms", 3)),
    ("process-fault-unknown", lambda: fault("kill", "exit_code", 3)),
    ("alert-unknown", lambda: change(full(), "expect.alerts.0.page", True)),
    ("halt-two-keys", lambda: change(full(), "halt.2.error_ratio", {})),
    ("halt-unknown", lambda: change(full(), "halt.2", {"after": 3})),
    # wrong enums
    ("tag", lambda: change(full(), "tags", ["nightly"])),
    ("journey", lambda: change(full(), "load.journey", "buy_a_car")),
    ("kind", lambda: change(full(), "faults.0.kind", "flood")),
    ("signal", lambda: fault("kill", "signal", "HUP")),
    ("method", lambda: fault("slow", "method", "FETCH")),
    ("slo-state", lambda: change(full(), "expect.slos.0.state", "fine")),
    ("invariant", lambda: change(full(), "expect.integrity", ["no_bugs"])),
    ("slug", lambda: change(full(), "name", "Claims Latency")),
    # out of bounds
    ("arrival-rate-zero", lambda: change(full(), "load.arrival_rate_per_s", 0)),
    ("arrival-rate-high", lambda: change(full(), "load.arrival_rate_per_s", 201)),
    ("steady-zero", lambda: change(full(), "steady_state.duration_s", 0)),
    ("steady-long", lambda: change(full(), "steady_state.duration_s", 3601)),
    ("latency-high", lambda: fault("latency", "latency_ms", 600_001)),
    ("start-negative", lambda: fault("outage", "start_after_s", -1)),
    ("rate-kbps-zero", lambda: fault("bandwidth", "rate_kbps", 0)),
    ("status-code", lambda: fault("error", "status_code", 399)),
    ("rate-zero", lambda: fault("error", "rate", 0)),
    ("delay-high", lambda: fault("slow", "delay_ms", 60_001)),
    ("cpu-burn-long", lambda: fault("cpu_burn", "duration_s", 241)),
    ("app-fault-long", lambda: fault("error", "duration_s", 3541)),
    ("threads", lambda: fault("cpu_burn", "threads", 5)),
    ("status-code-high", lambda: fault("error", "status_code", 600)),
    ("deploy-status-low", lambda: fault("bad_deploy", "status_code", 499)),
    ("first-n-high", lambda: fault("error", "first_n", 1_000_001)),
    ("rate-kbps-high", lambda: fault("bandwidth", "rate_kbps", 1_000_001)),
    ("in-flight-high", lambda: fault("concurrency_cap", "max_in_flight", 10_001)),
    ("exit-code-high", lambda: fault("crash", "exit_code", 256)),
    ("in-flight", lambda: fault("concurrency_cap", "max_in_flight", 0)),
    ("exit-code", lambda: fault("crash", "exit_code", 0)),
    ("after-ms", lambda: fault("crash", "after_ms", 60_001)),
    ("after-s", lambda: change(full(), "halt.2.after_s", 0)),
    ("above-one", lambda: change(full(), "halt.0.error_ratio.above", 1)),
    ("error-ratio", lambda: change(full(), "expect.alerts.0.error_ratio", 0)),
    ("margin", lambda: change(full(), "expect.alerts.0.margin_s", 3601)),
    ("pages", lambda: change(full(), "expect.pages", -1)),
    ("finished", lambda: change(full(), "expect.runbooks.0.finished_within_s", 0.05)),
    ("hold", lambda: change(full(), "expect.slo_recovered.hold_s", 0.5)),
    ("amplification", lambda: change(full(), "expect.amplification.0.max", 101)),
    ("trial-calls", lambda: change(full(), "expect.breaker.0.max_trial_calls", 0)),
    (
        "success-ratio",
        lambda: change(full(), "expect.degraded_gracefully.0.min_success_ratio", 2),
    ),
    (
        "users-zero",
        lambda: change(full(), "load", {"journey": "view_policy", "users": 0}),
    ),
    (
        "users-many",
        lambda: change(full(), "load", {"journey": "view_policy", "users": 201}),
    ),
    (
        "think-time-long",
        lambda: change(
            full(), "load", {"journey": "view_policy", "users": 1, "think_time_s": 61}
        ),
    ),
    (
        "weight-high",
        lambda: change(full(), "load", {"journeys": {"view_policy": 1001}, "users": 1}),
    ),
    # wrong types and shapes
    (
        "users-fraction",
        lambda: change(full(), "load", {"journey": "view_policy", "users": 2.5}),
    ),
    ("no-alerts-text", lambda: change(full(), "expect.no_alerts", "yes")),
    ("label-number", lambda: change(full(), "expect.alerts.0.labels.team", 3)),
    ("annotations-number", lambda: change(full(), "expect.alerts.0.annotations", 3)),
    (
        "route-relative",
        lambda: change(full(), "expect.degraded_gracefully.0.route", "claims"),
    ),
    ("path-prefix-relative", lambda: fault("error", "path_prefix", "claims")),
    ("path-prefix-exempt", lambda: fault("error", "path_prefix", "/admin/faults")),
    ("blank-hypothesis", lambda: change(full(), "hypothesis", "  ")),
    ("no-faults", lambda: change(full(), "faults", [])),
    # rules across fields
    ("journey-and-journeys", lambda: change(full(), "load.journeys", ["view_policy"])),
    ("two-models", lambda: change(full(), "load.users", 3)),
    ("think-time-open", lambda: change(full(), "load.think_time_s", 1)),
    (
        "first-n-with-rate",
        lambda: change(fault("error", "first_n", 5), "faults.0.rate", 0.5),
    ),
    ("header-value-alone", lambda: fault("slow", "header_value", "x")),
    ("bad-deploy-harmless", lambda: fault("bad_deploy", "error_rate", 0)),
    ("inhibited-fires", lambda: change(full(), "expect.alerts.0.inhibited", True)),
    ("resolves-unfired", lambda: change(full(), "expect.alerts.0.fires", False)),
    ("held-with-within", lambda: change(full(), "expect.slos.0.within_s", 20)),
    (
        "breached-without-within",
        lambda: change(full(), "expect.slos.0.state", "breached_and_recovered"),
    ),
    (
        "expects-nothing",
        lambda: change(full(), "expect", {"alerts": [], "no_alerts": False}),
    ),
    # missing required fields
    *(
        (f"missing-{key}", lambda key=key: change(full(), key, DELETE))
        for key in ("name", "hypothesis", "load", "steady_state", "faults", "expect")
    ),
    ("missing-model", lambda: change(full(), "load.arrival_rate_per_s", DELETE)),
    (
        "missing-steady-duration",
        lambda: change(full(), "steady_state.duration_s", DELETE),
    ),
    ("missing-fault-name", lambda: fault("outage", "name", DELETE)),
    ("missing-duration", lambda: fault("outage", "duration_s", DELETE)),
    ("missing-route", lambda: fault("outage", "route", DELETE)),
    ("missing-latency", lambda: fault("latency", "latency_ms", DELETE)),
    ("missing-service", lambda: fault("kill", "service", DELETE)),
    ("missing-delay", lambda: fault("slow", "delay_ms", DELETE)),
    ("missing-block", lambda: fault("loop_block", "block_ms", DELETE)),
    ("missing-version", lambda: fault("bad_deploy", "version", DELETE)),
    ("missing-alert-name", lambda: change(full(), "expect.alerts.0.name", DELETE)),
    ("missing-above", lambda: change(full(), "halt.0.error_ratio.above", DELETE)),
    ("missing-within", lambda: change(full(), "expect.slo_recovered.within_s", DELETE)),
]


@pytest.mark.parametrize(("name", "make"), BAD, ids=[name for name, _ in BAD])
def test_bad_documents_are_refused_by_both(name, make, tmp_path, estate, validator):
    doc = make()

    loader_message = loader_verdict(tmp_path, doc, estate)
    schema_message = schema_verdict(validator, doc)

    assert loader_message is not None, "the loader accepted it"
    assert schema_message is not None, "the schema accepted it"
    assert same_place(loader_message, schema_message), (loader_message, schema_message)


# -- field names -------------------------------------------------------------

UNKNOWN = "zz_unknown"


def loader_fields(tmp_path: Path, doc: dict, location: str, estate) -> set[str]:
    """The field names the loader accepts at location, read from its refusal."""
    if location == "":
        doc[UNKNOWN] = 1
    elif location == "halt.0":
        change(doc, location, {UNKNOWN: 1})
    else:
        change(doc, f"{location}.{UNKNOWN}", 1)
    message = loader_verdict(tmp_path, doc, estate)
    assert message is not None and UNKNOWN in message, message
    listed = re.search(r"(?:accepted fields|; fields): ([\w, ]+)$", message)
    assert listed, message
    names = set(listed.group(1).split(", "))
    if "no such field of" in message:
        # The mock lists its own body; the experiment adds where and when.
        names |= {*COMMON_FIELDS, "service"}
    return names


def schema_fields(location: str, kind: str | None = None) -> set[str]:
    """The property names the published schema gives the object at location."""
    node = json.loads(PUBLISHED.read_text())
    for part in filter(None, location.split(".")):
        if part.isdigit():
            node = node["items"]
        else:
            node = node["properties"][part]
    if kind is not None:
        (node,) = [
            rule["then"]
            for rule in node["allOf"]
            if rule["if"]["properties"]["kind"]["const"] == kind
        ]
    return set(node["properties"])


LOCATIONS = [
    "",
    "load",
    "steady_state",
    "halt.0",
    "halt.0.error_ratio",
    "halt.1.budget_spent",
    "expect",
    "expect.alerts.0",
    "expect.runbooks.0",
    "expect.slo_recovered",
    "expect.slos.0",
    "expect.amplification.0",
    "expect.breaker.0",
    "expect.degraded_gracefully.0",
]


@pytest.mark.parametrize("location", LOCATIONS, ids=lambda x: x or "top")
def test_schema_fields_equal_loader_fields(location, tmp_path, estate):
    accepted = loader_fields(tmp_path, full(), location, estate)

    assert schema_fields(location) == accepted


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_fault_fields_equal_loader_fields(kind, tmp_path, estate):
    accepted = loader_fields(tmp_path, with_fault(kind), "faults.0", estate)

    assert schema_fields("faults.0", kind) == accepted


def test_the_cli_prints_and_writes_the_schema(tmp_path, capsys):
    from harness.cli import main

    assert main(["schema"]) == 0
    assert capsys.readouterr().out == render()

    assert main(["schema", "-o", str(tmp_path / "s.json")]) == 0
    assert (tmp_path / "s.json").read_text() == render()
