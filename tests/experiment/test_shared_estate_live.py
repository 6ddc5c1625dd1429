"""One estate serves several experiments, each from a clean state.

These start the whole estate on 127.0.0.1 once and run two or three
experiments on it, so the module takes a few minutes.
"""

import json
from pathlib import Path

import pytest

from harness.config import load_estate
from harness.experiment.estate import EstateState, SharedEstate
from harness.experiment.runner import RunOptions, run_experiment
from harness.stack.mock_admin import MockAdminClient

REPO = Path(__file__).resolve().parents[2]
LATENCY = REPO / "experiments" / "claims-customer-latency.yaml"
BLIP = REPO / "experiments" / "claims-customer-blip.yaml"
ALERT = "ClaimsApiAvailabilityBurnRate"

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    estate = SharedEstate(
        load_estate(REPO / "config"), tmp_path_factory.mktemp("estate")
    )
    with estate:
        yield estate
    assert estate.state is EstateState.STOPPED


def events(report_dir: Path) -> list[dict]:
    return json.loads((report_dir / "journal.json").read_text())["events"]


def test_an_experiment_after_an_outage_sees_no_alert_state_of_it(shared, tmp_path):
    outage = run_experiment(LATENCY, RunOptions(reports_dir=tmp_path), shared)
    quiet = run_experiment(BLIP, RunOptions(reports_dir=tmp_path), shared)

    assert ALERT in alerts_seen(outage.report_dir), outage.verdict.explain()
    # Any other alert the quiet run saw is its own business (anomaly tickets
    # react to a busy machine); the outage's alert must not reach it.
    assert ALERT not in alerts_seen(quiet.report_dir), quiet.verdict.explain()
    quiet_kinds = [e["kind"] for e in events(quiet.report_dir)]
    assert not [k for k in quiet_kinds if k.startswith("page")], quiet_kinds
    outage_ends = json.loads((outage.report_dir / "endpoints.json").read_text())
    quiet_ends = json.loads((quiet.report_dir / "endpoints.json").read_text())
    assert outage_ends["prometheus"] != quiet_ends["prometheus"]
    assert outage_ends["pids"]["customer-api"] == quiet_ends["pids"]["customer-api"]


def alerts_seen(report_dir: Path) -> set[str]:
    """Alert names in any state the run's watchers or webhook recorded."""
    return {
        e["fields"]["alertname"]
        for e in events(report_dir)
        if e["kind"].startswith("alert_") and "alertname" in e["fields"]
    }


def test_what_an_experiment_left_behind_is_put_back_and_recorded(shared, tmp_path):
    endpoints = shared.endpoints
    shared.stack.proxy.add_toxic(
        "claims-api_to_customer-api", "latency", {"latency": 500}, name="left-behind"
    )
    shared.stack.proxy.update_proxy("claims-api_to_policy-api", enabled=False)
    with MockAdminClient(endpoints.externals["crm"], endpoints.admin_token) as c:
        c.add_fault("error", status_code=503, rate=0.5)
    with MockAdminClient(endpoints.services["claims-api"], endpoints.admin_token) as c:
        c.set_dependency("customer-api", {"fallback": "cache"})
    shared.stack.restart_mock("payment-api")
    shared.stack.processes[-1].stop()

    assert len(shared.dirt()) >= 5, shared.dirt()
    reset = shared.make_clean()

    assert shared.dirt() == []
    assert "mock payment-api restarted" in reset
    assert "route claims-api_to_customer-api: toxic left-behind removed" in reset
    assert "route claims-api_to_policy-api enabled again" in reset
    assert any(r.startswith("mock crm: fault") for r in reset), reset
    # The disabled route may open claims-api's breakers: then its restart is
    # what sets the fallback back.
    assert any(
        r.startswith(("claims-api->customer-api set back", "mock claims-api restarted"))
        for r in reset
    ), reset
