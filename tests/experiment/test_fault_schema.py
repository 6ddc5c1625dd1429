"""Fault entries of every kind: good ones load, bad ones are refused precisely."""

from pathlib import Path

import pytest
import yaml

from harness.config import load_estate
from harness.errors import ConfigError
from harness.experiment.fault_schema import MOCK_MARGIN_S
from harness.experiment.schema import load_experiment

REPO = Path(__file__).resolve().parents[2]
ALERTS = {"ClaimsApiAvailabilityBurnRate": ("page", "ticket")}


@pytest.fixture(scope="module")
def estate():
    return load_estate(REPO / "config")


def load(tmp_path: Path, estate, fault: dict):
    data = yaml.safe_load(
        (REPO / "experiments/claims-customer-latency.yaml").read_text()
    )
    data["faults"] = [{"name": "f", "start_after_s": 0, "duration_s": 20, **fault}]
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_experiment(path, estate, ALERTS).faults[0]


def refused(tmp_path: Path, estate, fault: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, estate, fault)
    message = str(caught.value)
    # Every refusal names the file and the line of the fault entry or field.
    assert str(tmp_path / "exp.yaml") + ":" in message
    return message


ROUTE = "claims-api_to_customer-api"


@pytest.mark.parametrize(
    ("fault", "attributes"),
    [
        ({"kind": "latency", "latency_ms": 200}, {"latency_ms": 200, "jitter_ms": 0}),
        ({"kind": "outage"}, {}),
        ({"kind": "reset"}, {}),
        ({"kind": "blackhole"}, {}),
        ({"kind": "bandwidth", "rate_kbps": 5}, {"rate_kbps": 5}),
    ],
)
def test_network_faults_target_a_route(tmp_path, estate, fault, attributes):
    loaded = load(tmp_path, estate, {"route": ROUTE, **fault})

    assert (loaded.family, loaded.route, loaded.service) == ("network", ROUTE, "")
    assert loaded.attributes == attributes
    assert loaded.target == f"route {ROUTE}"


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "error", "status_code": 500, "rate": 0.5, "path_prefix": "/claims"},
        {"kind": "error", "first_n": 3},
        {"kind": "slow", "delay_ms": 300, "jitter_ms": 50, "method": "POST"},
        {"kind": "bad_deploy", "version": "1.1.0", "error_rate": 0.2},
        {"kind": "pool_exhaustion", "dependency": "fraud-detection"},
        {"kind": "loop_block", "block_ms": 500, "interval_ms": 2000},
        {"kind": "concurrency_cap", "max_in_flight": 2},
        {"kind": "cpu_burn", "threads": 2},
    ],
)
def test_application_faults_target_a_mock_and_keep_their_fields(
    tmp_path, estate, fault
):
    loaded = load(tmp_path, estate, {"service": "claims-api", **fault})

    assert (loaded.family, loaded.route, loaded.service) == ("app", "", "claims-api")
    assert loaded.kind == fault["kind"]
    assert loaded.attributes == {k: v for k, v in fault.items() if k != "kind"}


def test_an_external_system_can_be_the_target(tmp_path, estate):
    loaded = load(tmp_path, estate, {"kind": "error", "service": "payment-gateway"})

    assert loaded.service == "payment-gateway"


@pytest.mark.parametrize(
    ("fault", "attributes"),
    [
        ({"kind": "kill"}, {"signal": "KILL"}),
        ({"kind": "kill", "signal": "TERM"}, {"signal": "TERM"}),
        ({"kind": "crash", "exit_code": 3}, {"exit_code": 3, "after_ms": 0}),
    ],
)
def test_process_faults_target_a_mock(tmp_path, estate, fault, attributes):
    loaded = load(tmp_path, estate, {"service": "customer-api", **fault})

    assert (loaded.family, loaded.service) == ("process", "customer-api")
    assert loaded.attributes == attributes


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        # Bounds the mock enforces, refused before anything runs.
        (
            {"kind": "error", "service": "claims-api", "status_code": 200},
            "field 'faults[0].status_code' is 200; expected an integer 400..599",
        ),
        (
            {"kind": "error", "service": "claims-api", "rate": 1.5},
            "field 'faults[0].rate' is 1.5; expected a number > 0 and <= 1.0",
        ),
        (
            {"kind": "slow", "service": "claims-api"},
            "field 'faults[0].delay_ms' is missing; expected a number > 0",
        ),
        (
            {"kind": "slow", "service": "claims-api", "delay_ms": 100, "lag": 1},
            "field 'faults[0].lag' is 1; expected no such field of slow",
        ),
        (
            {"kind": "loop_block", "service": "claims-api", "block_ms": 20_000},
            "field 'faults[0].block_ms' is 20000; expected a number > 0 and <= 10000",
        ),
        (
            {"kind": "concurrency_cap", "service": "claims-api", "max_in_flight": 0},
            "field 'faults[0].max_in_flight' is 0; expected an integer 1..10000",
        ),
        (
            {"kind": "cpu_burn", "service": "claims-api", "threads": 8},
            "field 'faults[0].threads' is 8; expected an integer 1..4",
        ),
        (
            {"kind": "bad_deploy", "service": "claims-api", "version": "2"},
            "field 'faults[0].error_rate' is missing; expected error_rate > 0 or",
        ),
        (
            {"kind": "pool_exhaustion", "service": "claims-api", "dependency": "crm"},
            "field 'faults[0].dependency' is 'crm'; expected one of policy-api, "
            "customer-api, payment-api, fraud-detection",
        ),
        (
            {"kind": "error", "service": "claims-api", "path_prefix": "/admin"},
            "field 'faults[0].path_prefix' is '/admin'; expected a service path",
        ),
        # Targets.
        (
            {"kind": "error", "service": "billing-api"},
            "field 'faults[0].service' is 'billing-api'; expected one of: claims-api",
        ),
        (
            {"kind": "error"},
            "field 'faults[0].service' is missing",
        ),
        (
            {"kind": "error", "route": ROUTE},
            f"field 'faults[0].route' is '{ROUTE}'; expected no route: error faults "
            "target a service",
        ),
        (
            {"kind": "reset", "service": "claims-api"},
            "unknown field 'faults[0].service'",
        ),
        (
            {"kind": "reset", "route": "claims-api_to_nowhere"},
            "field 'faults[0].route' is 'claims-api_to_nowhere'; expected a route",
        ),
        # Fields of network and process faults.
        (
            {"kind": "bandwidth", "route": ROUTE},
            "field 'faults[0].rate_kbps' is missing; expected a whole number",
        ),
        (
            {"kind": "bandwidth", "route": ROUTE, "rate_kbps": 0.5},
            "field 'faults[0].rate_kbps' is 0.5",
        ),
        (
            {"kind": "kill", "service": "claims-api", "signal": "HUP"},
            "field 'faults[0].signal' is 'HUP'; expected one of: KILL, TERM",
        ),
        (
            {"kind": "kill", "service": "claims-api", "exit_code": 2},
            "unknown field 'faults[0].exit_code'",
        ),
        (
            {"kind": "crash", "service": "claims-api", "exit_code": 0},
            "field 'faults[0].exit_code' is 0; expected an integer 1..255",
        ),
    ],
)
def test_bad_fault_entries_name_field_value_and_what_is_accepted(
    tmp_path, estate, fault, expected
):
    assert expected in refused(tmp_path, estate, fault)


def test_the_mock_ends_an_application_fault_itself_only_within_its_own_bound(
    tmp_path, estate
):
    fault = {"kind": "cpu_burn", "service": "claims-api", "duration_s": 250}

    message = refused(tmp_path, estate, fault)

    assert "field 'faults[0].duration_s' is 250" in message
    assert f"at most {300 - MOCK_MARGIN_S:g} s for cpu_burn" in message
