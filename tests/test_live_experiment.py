"""The experiment's verdicts fail when they should, and every exit path cleans up.

These start the whole estate (proxy, eight mocks, Prometheus, Alertmanager,
Locust) on 127.0.0.1, so each takes about a minute.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from harness.config import load_estate
from harness.experiment.estate import SharedEstate
from harness.experiment.runner import RunOptions, run_experiment
from harness.experiment.verdict import Status
from harness.proxy.client import ToxiproxyClient
from harness.proxy.server import ProxyServerThread
from harness.report.html import render_report_html
from tests.browser import chromium_available
from tests.report.html_page import (
    chart_data,
    points_in_fault_windows,
    rendered_body,
)
from tests.report.test_journal_schema import assert_valid_journal

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "experiments" / "claims-customer-latency.yaml"
ALERT = "ClaimsApiAvailabilityBurnRate"
# How the verdict names the expectation: the page rule of that name.
ALERT_KEY = f"{ALERT}[page]"
RUNBOOK = "claims-customer-fallback"

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One estate for the tests that run the experiment with deliberate breakage."""
    estate = SharedEstate(
        load_estate(REPO / "config"), tmp_path_factory.mktemp("estate")
    )
    with estate:
        yield estate


def assert_borrowed_and_returned(report_dir: Path, shared: SharedEstate) -> None:
    """What the experiment started is gone; the estate lives on, clean."""
    ledger = json.loads((report_dir / "ledger.json").read_text())["faults"]
    assert ledger and all(entry["state"] == "rolled_back" for entry in ledger)
    pids = started_pids(report_dir)
    own = {name: pids[name] for name in ("load", "prometheus", "alertmanager")}
    assert [name for name, pid in own.items() if alive(pid)] == []
    assert alive(pids["claims-api"])
    # A breaker still probing its dependency is put back before the next
    # experiment; anything else left over is the experiment's fault.
    assert [d for d in shared.dirt() if "breaker" not in d] == []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def started_pids(report_dir: Path) -> dict[str, int]:
    pids = json.loads((report_dir / "endpoints.json").read_text())["pids"]
    journal = json.loads((report_dir / "journal.json").read_text())
    for event in journal["events"]:
        if event["kind"] == "load_started":
            pids["load"] = event["fields"]["pid"]
    return pids


def assert_cleaned_up(report_dir: Path, own_proxy: bool = True) -> None:
    ledger = json.loads((report_dir / "ledger.json").read_text())["faults"]
    assert ledger and all(entry["state"] == "rolled_back" for entry in ledger)
    pids = started_pids(report_dir)
    assert "load" in pids and "claims-api" in pids and "prometheus" in pids
    assert ("fault-proxy" in pids) == own_proxy
    assert [name for name, pid in pids.items() if alive(pid)] == []


def test_without_its_alert_rule_the_experiment_fails_naming_the_alert(tmp_path, shared):
    result = run_experiment(
        EXPERIMENT, RunOptions(reports_dir=tmp_path, without_alerts=(ALERT,)), shared
    )

    assert result.verdict.status is Status.FAILED, result.verdict.explain()
    failed = [f.expectation for f in result.verdict.findings]
    assert failed == [f"alert {ALERT_KEY} fires"]
    assert_borrowed_and_returned(result.report_dir, shared)
    assert_no_data_lost(result.report_dir)
    assert_root_cause_named(result.report_dir)


def assert_root_cause_named(report_dir: Path) -> None:
    """The analysis, blind to the fault, named it: customer-api via its route."""
    rca = json.loads((report_dir / "journal.json").read_text())["rca"]
    guess = rca["guess"]
    assert guess["component"] == "customer-api", rca
    assert guess["via"] == "claims-api_to_customer-api", rca
    assert rca["correct"] is True
    assert rca["injected"][0]["component"] == "customer-api"
    assert "## Root cause (analysis)" in (report_dir / "summary.md").read_text()


def assert_no_data_lost(report_dir: Path) -> None:
    """Every invariant was checked after the load, and held."""
    integrity = json.loads((report_dir / "journal.json").read_text())["integrity"]
    names = [result["name"] for result in integrity]
    assert names == [
        "keys_charged_once",
        "accepted_claims_stored",
        "ledger_reconciles",
        "committed_records_present",
        "customers_verified",
    ]
    assert all(result["held"] for result in integrity), integrity
    claims = integrity[1]
    assert claims["checked"] > 0, "the load recorded no accepted claim"


def test_without_its_runbook_the_experiment_fails_naming_the_runbook(tmp_path, shared):
    result = run_experiment(
        EXPERIMENT,
        RunOptions(reports_dir=tmp_path, disabled_runbooks=(RUNBOOK,)),
        shared,
    )

    assert result.verdict.status is Status.FAILED, result.verdict.explain()
    failed = [f.expectation for f in result.verdict.findings]
    assert f"runbook {RUNBOOK} runs" in failed
    assert "disabled" in result.verdict.findings[0].observed
    assert result.verdict.measurements["time_to_detect_s"][ALERT_KEY] > 0
    assert_borrowed_and_returned(result.report_dir, shared)
    assert_one_decision_per_alert(result.report_dir)
    assert_report_html_draws_the_fault(result.report_dir, tmp_path)
    assert_root_cause_named(result.report_dir)
    assert_journal_and_postmortem(result.report_dir)


def assert_report_html_draws_the_fault(report_dir: Path, tmp_path: Path) -> None:
    """report.html of the real journal: its charts have points in the fault
    window, and it draws in a browser with the failed banner on screen."""
    journal = json.loads((report_dir / "journal.json").read_text())
    for name in ("latency_p95_s", "throughput_per_s"):
        assert f"claims-api:{name}" in journal["series"]
    assert "load:achieved_per_s" in journal["series"]
    assert journal["config"]["options"]["disabled_runbooks"] == [RUNBOOK]
    page = (report_dir / "report.html").read_text()
    assert render_report_html(journal) == page, "report.html is the journal's"
    data = chart_data(page)
    assert data["windows"], "no fault window in the report"
    in_faults = points_in_fault_windows(data)
    assert "claims-api-latency" in in_faults and "load-journeys" in in_faults
    assert all(count > 0 for count in in_faults.values()), in_faults
    if chromium_available() or os.environ.get("CI"):
        body = rendered_body(report_dir / "report.html", tmp_path / "chromium")
        assert body["data-errors"] == "" and body["_console"] == ""
        assert body["data-charts-drawn"] == str(len(data["charts"]))
        assert int(body["data-banner-top"]) < 800


def assert_journal_and_postmortem(report_dir: Path) -> None:
    """The journal matches docs/journal.schema.json, its impact shows the
    claims budget the fault burned, and the postmortem names what failed."""
    journal = json.loads((report_dir / "journal.json").read_text())
    assert_valid_journal(journal)
    budget = {entry["slo"]: entry for entry in journal["impact"]["budget"]}
    claims = budget["claims-api-availability"]
    assert claims["bad"] > 0 and claims["consumed_ratio"] > 0, claims
    assert 0 < claims["period_fraction"] < claims["consumed_ratio"]
    assert "file_a_claim" in journal["impact"]["journeys_affected"]
    assert journal["roles"]["incident_commander"] is None
    items = (report_dir / "postmortem.md").read_text().split("## Action items")[1]
    assert f"Runbook {RUNBOOK} did not run as expected" in items
    assert "disabled for this run on purpose" in items


def assert_one_decision_per_alert(report_dir: Path) -> None:
    """Alertmanager repeated itself; the controller decided once per alert
    (per fingerprint: the page and the ticket of one name are two alerts)."""
    events = json.loads((report_dir / "journal.json").read_text())["events"]
    notes = [
        e["fields"]
        for e in events
        if e["kind"] == "alert_notified"
        and e["fields"]["alertname"] == ALERT
        and e["fields"]["status"] == "firing"
    ]
    decisions = [
        e
        for e in events
        if e["kind"] == "runbook_skipped" and e["fields"]["alert"] == ALERT
    ]
    assert sum(1 for n in notes if n["repeat"]) >= 2, "repeat_interval is short"
    assert len(decisions) == len({n["fingerprint"] for n in notes})


def test_an_exception_mid_run_is_an_error_and_cleans_up(tmp_path, monkeypatch):
    from harness.experiment import runner

    def inject_then_explode(self):
        self._parts["injector"].inject(self.experiment.faults[0])
        raise RuntimeError("boom after the fault")

    monkeypatch.setattr(runner.ExperimentRun, "_run_faults", inject_then_explode)

    result = run_experiment(EXPERIMENT, RunOptions(reports_dir=tmp_path))

    assert result.verdict.status is Status.ERROR
    assert "boom after the fault" in result.verdict.reason
    assert_cleaned_up(result.report_dir)


def test_a_fault_on_an_undeclared_route_is_an_error(tmp_path):
    data = yaml.safe_load(EXPERIMENT.read_text())
    data["faults"][0]["route"] = "claims-api_to_billing-api"
    path = tmp_path / "bad-route.yaml"
    path.write_text(yaml.safe_dump(data))

    result = run_experiment(path, RunOptions(reports_dir=tmp_path / "reports"))

    assert result.verdict.status is Status.ERROR
    assert result.verdict.status.exit_code == 2
    assert "'faults[0].route' is 'claims-api_to_billing-api'" in result.verdict.reason
    assert result.report_dir is None, "nothing started, so nothing was written"
    assert not (tmp_path / "reports").exists()


def wait_for_event(reports: Path, kind: str, timeout_s: float) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for journal in reports.glob("*/journal.jsonl"):
            if f'"kind": "{kind}"' in journal.read_text():
                return journal.parent
        time.sleep(0.2)
    raise AssertionError(f"no {kind} event within {timeout_s} s")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_fault_rolls_back_and_stops_everything(tmp_path, signum):
    # An external proxy outlives the run, so the test can see what was left on it.
    with ProxyServerThread() as proxy_server:
        env = dict(os.environ, TOXIPROXY_URL=proxy_server.api_url)
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "run",
                str(EXPERIMENT),
                "--reports",
                str(tmp_path),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            report_dir = wait_for_event(tmp_path, "fault_injected", timeout_s=90)
            client = ToxiproxyClient(proxy_server.api_url)
            toxics = client.toxics("claims-api_to_customer-api")
            assert [t["name"] for t in toxics] == ["harness-slow-customer-for-claims"]

            run.send_signal(signum)
            output, _ = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()

        assert run.returncode == 2, output
        assert f"interrupted by {signal.Signals(signum).name}" in output
        assert client.proxies() == {}, "routes and toxics left on the proxy"
    journal = json.loads((report_dir / "journal.json").read_text())
    kinds = [e["kind"] for e in journal["events"]]
    assert kinds.index("fault_rolled_back") > kinds.index("fault_injected")
    assert journal["verdict"]["status"] == "error"
    assert_cleaned_up(report_dir, own_proxy=False)


def test_a_fault_removed_behind_the_harness_back_is_an_error(tmp_path, monkeypatch):
    with ProxyServerThread() as proxy_server:
        monkeypatch.setenv("TOXIPROXY_URL", proxy_server.api_url)
        client = ToxiproxyClient(proxy_server.api_url)
        meddler = threading.Thread(
            target=_remove_toxic_once_live, args=(client,), daemon=True
        )
        meddler.start()

        result = run_experiment(EXPERIMENT, RunOptions(reports_dir=tmp_path))
        meddler.join(timeout=5)

    assert result.verdict.status is Status.ERROR, result.verdict.explain()
    assert "changed or removed on their target" in result.verdict.reason
    ledger = json.loads((result.report_dir / "ledger.json").read_text())["faults"]
    assert [entry["state"] for entry in ledger] == ["lost"]


def _remove_toxic_once_live(client: ToxiproxyClient) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if client.toxics("claims-api_to_customer-api"):
                time.sleep(3)
                client.remove_toxic(
                    "claims-api_to_customer-api", "harness-slow-customer-for-claims"
                )
                return
        except Exception:
            pass
        time.sleep(0.2)
