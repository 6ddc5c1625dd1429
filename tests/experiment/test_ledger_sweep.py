"""Ledgers of dead runs are swept: toxics removed, mock faults deleted, processes
stopped only when the PID is still the process recorded."""

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.experiment.fault_schema import FaultSpec
from harness.experiment.faults import FaultLedger, sweep_stale
from harness.experiment.faults.ledger import identity, is_alive, start_time
from harness.private_state import write_secrets
from harness.proxy.client import ToxiproxyClient
from harness.proxy.server import ProxyServerThread
from harness.report.redact import find_planted

ROUTE = "claims-api_to_customer-api"
TOKEN = "secret-admin-token"


def spec(name, kind, route="", service="") -> FaultSpec:
    return FaultSpec(name, kind, route, 0, 10, {}, "x.yaml:3", service)


@pytest.fixture
def proxy() -> Iterator[ToxiproxyClient]:
    with ProxyServerThread() as server:
        client = ToxiproxyClient(server.api_url)
        client.create_proxy(ROUTE, "127.0.0.1:0", "127.0.0.1:9")
        yield client
        client.close()


class _FakeAdmin(BaseHTTPRequestHandler):
    """A mock's admin API that records each call and its Authorization header."""

    calls: list[tuple[str, str, str]]

    def do_DELETE(self):
        self.calls.append(("DELETE", self.path, self.headers["Authorization"]))
        body = json.dumps({"id": self.path.rsplit("/", 1)[-1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def admin() -> Iterator[tuple[str, list]]:
    calls: list = []
    handler = type("Handler", (_FakeAdmin,), {"calls": calls})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", calls
    server.shutdown()
    server.server_close()


def dead_owner() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def dead_run(run_dir: Path) -> FaultLedger:
    """A ledger whose owner has exited, in a run folder with its endpoints.json."""
    run_dir.mkdir(parents=True)
    (run_dir / "endpoints.json").write_text(json.dumps({"admin_token": TOKEN}))
    ledger = FaultLedger(run_dir / "ledger.json")
    doc = json.loads(ledger.path.read_text())
    # The pid may be reused, but never with this start time.
    ledger._doc["owner"] = {
        "pid": dead_owner(),
        "start_time": doc["owner"]["start_time"] - 1,
    }
    return ledger


def test_a_dead_run_toxic_outage_and_mock_fault_are_undone(tmp_path, proxy, admin):
    admin_url, calls = admin
    ledger = dead_run(tmp_path / "run-1")
    proxy.add_toxic(ROUTE, "latency", name="harness-slow", attributes={"latency": 9})
    ledger.open(spec("slow", "latency", route=ROUTE), _toxic(proxy, "harness-slow"))
    ledger.mark("slow", "live")
    proxy.update_proxy(ROUTE, enabled=False)
    ledger.open(spec("down", "outage", route=ROUTE), _toxic(proxy, None))
    ledger.open(
        spec("errors", "error", service="claims-api"),
        {"admin_url": admin_url, "fault_id": "fault-7"},
    )

    undone = sweep_stale(tmp_path)

    assert proxy.toxics(ROUTE) == []
    assert proxy.get_proxy(ROUTE)["enabled"] is True
    assert calls == [("DELETE", "/admin/faults/fault-7", f"Bearer {TOKEN}")]
    assert [(u["fault"], u["result"]) for u in undone] == [
        ("slow", "undone"),
        ("down", "undone"),
        ("errors", "undone"),
    ]
    doc = json.loads(ledger.path.read_text())
    assert [e["state"] for e in doc["faults"]] == ["swept"] * 3
    assert TOKEN not in ledger.path.read_text(), "the token stays in endpoints.json"
    assert sweep_stale(tmp_path) == []


def private_run(run_dir: Path, private: Path) -> FaultLedger:
    """A dead run as the runner leaves it: the token only in a private file."""
    ledger = dead_run(run_dir)
    token_file = write_secrets(private / "secrets.json", {"admin_token": TOKEN})
    endpoints = {"admin_token_file": str(token_file), "pids": {}}
    (run_dir / "endpoints.json").write_text(json.dumps(endpoints))
    return ledger


def test_the_sweep_reads_the_token_from_the_private_file_and_then_forgets_it(
    tmp_path, admin
):
    admin_url, calls = admin
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    ledger = private_run(tmp_path / "reports" / "run-1", private)
    ledger.open(
        spec("errors", "error", service="claims-api"),
        {"admin_url": admin_url, "fault_id": "fault-7"},
    )

    undone = sweep_stale(tmp_path / "reports")

    assert calls == [("DELETE", "/admin/faults/fault-7", f"Bearer {TOKEN}")]
    assert [(u["fault"], u["result"]) for u in undone] == [("errors", "undone")]
    assert find_planted(tmp_path / "reports", [TOKEN]) == {}
    assert not (private / "secrets.json").exists(), "no use for it once swept"


def test_a_token_file_others_can_read_is_refused_and_the_fault_stays(tmp_path, admin):
    admin_url, calls = admin
    private = tmp_path / "private"
    private.mkdir()
    ledger = private_run(tmp_path / "reports" / "run-1", private)
    (private / "secrets.json").chmod(0o644)
    ledger.open(
        spec("errors", "error", service="claims-api"),
        {"admin_url": admin_url, "fault_id": "fault-7"},
    )

    undone = sweep_stale(tmp_path / "reports")

    assert calls == []
    assert undone[0]["result"] == "unreachable"
    assert "no admin token" in undone[0]["error"]
    assert (private / "secrets.json").exists(), "kept for a sweep that can use it"


def test_a_ledger_whose_owner_runs_is_left_alone(tmp_path, proxy):
    run_dir = tmp_path / "run-1"
    run_dir.mkdir()
    ledger = FaultLedger(run_dir / "ledger.json")  # owned by this process
    proxy.add_toxic(ROUTE, "latency", name="harness-slow", attributes={"latency": 9})
    ledger.open(spec("slow", "latency", route=ROUTE), _toxic(proxy, "harness-slow"))

    assert sweep_stale(tmp_path) == []
    assert [t["name"] for t in proxy.toxics(ROUTE)] == ["harness-slow"]


def test_a_fault_whose_proxy_does_not_answer_stays_for_the_next_sweep(tmp_path):
    ledger = dead_run(tmp_path / "run-1")
    ledger.open(
        spec("slow", "latency", route=ROUTE),
        {"proxy_api": "http://127.0.0.1:9", "route": ROUTE, "toxic": "harness-slow"},
    )

    undone = sweep_stale(tmp_path)

    assert undone[0]["result"] == "unreachable"
    doc = json.loads(ledger.path.read_text())
    assert doc["faults"][0]["state"] == "applying"
    assert "swept_at" not in doc
    assert sweep_stale(tmp_path)[0]["fault"] == "slow", "tried again"


def test_processes_are_stopped_only_while_their_start_time_matches(tmp_path):
    ledger = dead_run(tmp_path / "run-1")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ledger.started("load", sleeper.pid)
        # A record naming this test's pid with another start time: a reused pid.
        ledger._doc["processes"].append(
            {
                "name": "old",
                "pid": os.getpid(),
                "start_time": start_time(os.getpid()) - 1,
            }
        )
        ledger._save()

        undone = sweep_stale(tmp_path)

        assert sleeper.wait(timeout=10) is not None
        assert [u["process"] for u in undone] == ["load"]
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


def test_the_routes_a_dead_run_made_on_an_outliving_proxy_are_deleted(tmp_path, proxy):
    ledger = dead_run(tmp_path / "run-1")
    ledger.created_routes(proxy.base_url, [ROUTE])

    sweep_stale(tmp_path)

    assert proxy.proxies() == {}


def test_identity_tells_a_live_process_from_a_gone_one():
    me = identity(os.getpid())

    assert is_alive(me)
    assert not is_alive({**me, "start_time": me["start_time"] + 1})
    assert identity(dead_owner()) is None


def _toxic(proxy: ToxiproxyClient, toxic: str | None) -> dict:
    return {"proxy_api": proxy.base_url, "route": ROUTE, "toxic": toxic}


def test_a_dead_run_with_nothing_left_to_undo_warns_of_no_missing_token(
    tmp_path, admin, caplog
):
    admin_url, _ = admin
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    ledger = private_run(tmp_path / "reports" / "run-1", private)
    ledger.open(
        spec("errors", "error", service="claims-api"),
        {"admin_url": admin_url, "fault_id": "fault-7"},
    )
    ledger.mark("errors", "rolled_back")
    (private / "secrets.json").unlink()  # the run removed it as it ended

    with caplog.at_level("WARNING"):
        assert sweep_stale(tmp_path / "reports") == []

    assert "no admin token" not in caplog.text
