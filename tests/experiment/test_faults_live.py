"""Faults of each family against a real estate: applied, seen, taken back.

One estate (proxy, eight mocks, Prometheus, Alertmanager) is started for the
module; each test leaves it as it found it.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from harness.config import load_estate
from harness.experiment.fault_schema import FaultSpec
from harness.experiment.faults import sweep_stale
from harness.experiment.faults.factory import local_faults
from harness.experiment.faults.ledger import is_alive
from harness.experiment.faults.network import NetworkFaults
from harness.experiment.runner import RunOptions, run_experiment
from harness.experiment.verdict import Status
from harness.proxy.client import ToxiproxyClient
from harness.proxy.server import ProxyServerThread
from harness.report.journal import Journal
from harness.report.redact import find_planted
from harness.stack.local import LocalStack

REPO = Path(__file__).resolve().parents[2]
ROUTE = "claims-api_to_customer-api"

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def estate_faults(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("estate")
    estate = load_estate(REPO / "config")
    stack = LocalStack(estate, run_dir, "http://127.0.0.1:9/")
    try:
        endpoints = stack.start()
        (run_dir / "endpoints.json").write_text(endpoints.as_json())
        faults = local_faults(
            stack,
            endpoints,
            estate.observability,
            Journal(run_dir, "live"),
            run_dir / "ledger.json",
        )
        yield stack, endpoints, faults
    finally:
        stack.stop()
    faults.close()


def spec(name, kind, route="", service="", **attributes) -> FaultSpec:
    return FaultSpec(name, kind, route, 0, 10, attributes, "x.yaml:3", service)


def test_an_error_fault_shows_in_prometheus_and_its_rollback_clears_the_mock(
    estate_faults,
):
    stack, endpoints, faults = estate_faults
    injector = faults.injector
    fault = spec("claims-errors", "error", service="claims-api", status_code=503)

    injector.inject(fault)

    injected = injector.journal.first("fault_injected", fault="claims-errors")
    assert injected.fields["effect_seen_after_s"] is not None
    admin = faults.injector._drivers["app"].admin["claims-api"]
    assert [f["kind"] for f in admin.faults()] == ["error"]
    answer = httpx.get(f"{endpoints.services['claims-api']}/claims/CLM-1", timeout=5)
    assert answer.status_code == 503

    injector.rollback("claims-errors")

    assert admin.faults() == []
    entry = injector.ledger.entry("claims-errors")
    assert entry["state"] == "rolled_back" and entry["fault_id"]


def test_a_blackhole_on_a_route_is_seen_and_removed(estate_faults):
    stack, endpoints, faults = estate_faults
    injector = faults.injector
    injector.inject(spec("hole", "blackhole", route=ROUTE))

    toxics = stack.proxy.toxics(ROUTE)
    assert [(t["name"], t["type"]) for t in toxics] == [("harness-hole", "timeout")]
    listen = endpoints.routes[ROUTE]
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"http://{listen}/healthz", timeout=1.5)

    injector.rollback("hole")

    assert stack.proxy.toxics(ROUTE) == []
    assert httpx.get(f"http://{listen}/healthz", timeout=5).status_code == 200


def test_a_killed_mock_is_seen_down_and_a_restart_outlives_the_thread_that_asked(
    estate_faults,
):
    stack, endpoints, faults = estate_faults
    injector = faults.injector
    url = endpoints.services["customer-api"]
    old_pid = faults.processes.pid("customer-api")

    injector.inject(
        spec("kill-customer", "kill", service="customer-api", signal="KILL")
    )

    assert faults.processes.pid("customer-api") is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)
    # The rollback runs in a thread that ends at once, like a short-lived step.
    step = threading.Thread(target=injector.rollback, args=("kill-customer",))
    step.start()
    step.join(timeout=60)

    time.sleep(2)  # PR_SET_PDEATHSIG would have stopped it by now
    new_pid = faults.processes.pid("customer-api")
    assert new_pid is not None and new_pid != old_pid
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    rolled = injector.journal.first("fault_rolled_back", fault="kill-customer")
    assert rolled.fields["already_running"] is False


def test_a_crash_asked_of_a_mock_is_seen_down_and_restarted(estate_faults):
    stack, endpoints, faults = estate_faults
    injector = faults.injector
    old_pid = faults.processes.pid("crm")

    injector.inject(spec("crash-crm", "crash", service="crm", exit_code=3, after_ms=0))

    assert faults.processes.pid("crm") is None
    assert injector.ledger.entry("crash-crm")["pid"] == old_pid
    injector.rollback("crash-crm")
    assert faults.processes.pid("crm") not in (None, old_pid)
    url = endpoints.externals["crm"]
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200


EXPERIMENT = REPO / "experiments" / "claims-customer-latency.yaml"


def wait_for_event(reports: Path, kind: str, timeout_s: float) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for journal in reports.glob("*/journal.jsonl"):
            if f'"kind": "{kind}"' in journal.read_text():
                return journal.parent
        time.sleep(0.2)
    raise AssertionError(f"no {kind} event within {timeout_s} s")


def test_a_run_killed_mid_fault_is_swept_by_the_next(tmp_path):
    # An external proxy outlives the run, so what the dead run left stays there.
    with ProxyServerThread() as proxy_server:
        env = dict(os.environ, TOXIPROXY_URL=proxy_server.api_url)
        argv = [sys.executable, "-m", "harness.cli", "run", str(EXPERIMENT)]
        run = subprocess.Popen(
            [*argv, "--reports", str(tmp_path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            report_dir = wait_for_event(tmp_path, "fault_injected", timeout_s=120)
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=10)
        finally:
            if run.poll() is None:
                run.kill()
        client = ToxiproxyClient(proxy_server.api_url)
        assert [t["name"] for t in client.toxics(ROUTE)] == [
            "harness-slow-customer-for-claims"
        ], "the killed run left its toxic"
        endpoints = json.loads((report_dir / "endpoints.json").read_text())
        token_file = Path(endpoints["admin_token_file"])
        token = json.loads(token_file.read_text())["admin_token"]

        undone = sweep_stale(tmp_path)

        assert client.proxies() == {}, "toxic and routes of the dead run are gone"
        assert {"fault": "slow-customer-for-claims"}.items() <= undone[0].items()
        assert undone[0]["result"] == "undone"
        ledger = json.loads((report_dir / "ledger.json").read_text())
        assert [e["state"] for e in ledger["faults"]] == ["swept"]
        assert ledger["swept_at"]
        names = [p["name"] for p in ledger["processes"]]
        assert {"load", "claims-api", "prometheus"} <= set(names)
        assert [p["name"] for p in ledger["processes"] if is_alive(p)] == []
        assert sweep_stale(tmp_path) == [], "a swept ledger is not swept again"
        assert not token_file.parent.exists(), "the swept run's private files go"
        assert find_planted(tmp_path, [token]) == {}, "and was never in its folder"


def test_a_fault_whose_effect_never_shows_ends_the_run_as_an_error(
    tmp_path, monkeypatch
):
    # A query that can never return a sample stands for a fault that had no effect.
    monkeypatch.setattr(
        NetworkFaults,
        "effect_query",
        lambda self, fault: ("vector(1) == 2", "fault-proxy"),
    )

    result = run_experiment(EXPERIMENT, RunOptions(reports_dir=tmp_path))

    assert result.verdict.status is Status.ERROR, result.verdict.explain()
    assert "effect never showed in Prometheus" in result.verdict.reason
    journal = json.loads((result.report_dir / "journal.json").read_text())
    kinds = [e["kind"] for e in journal["events"]]
    assert kinds[1] == "ledger_swept"
    assert "fault_injected" not in kinds
    ledger = json.loads((result.report_dir / "ledger.json").read_text())
    assert [e["state"] for e in ledger["faults"]] == ["rolled_back"]
