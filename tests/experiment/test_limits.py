"""Control-plane time limits: a server that accepts and never answers."""

import json
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from harness.errors import APICallError, StackError
from harness.experiment import runner
from harness.experiment.limits import RunBound, Watchdog
from harness.experiment.runner import RunOptions, run_experiment
from harness.experiment.verdict import Status
from harness.observe.prometheus import PrometheusAPI
from harness.proxy.client import ToxiproxyClient
from harness.stack.mock_admin import MockAdminClient

TIMEOUT_S = 0.5
# Generous: a loaded machine may be slow to schedule the timeout, never 10x.
TOLERANCE_S = 5.0


@pytest.fixture
def silent_server():
    """127.0.0.1:<free port> that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def timed(call) -> tuple[Exception, float]:
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        call()
    return caught.value, time.monotonic() - started


def test_a_stuck_prometheus_query_fails_naming_the_call(silent_server):
    with PrometheusAPI(silent_server, timeout_s=TIMEOUT_S) as api:
        error, elapsed_s = timed(lambda: api.scalar("up"))

    assert isinstance(error, StackError)
    assert "/api/v1/query" in str(error)
    assert elapsed_s < TIMEOUT_S + TOLERANCE_S


def test_a_stuck_proxy_api_call_fails_naming_the_call(silent_server):
    with ToxiproxyClient(silent_server, timeout_s=TIMEOUT_S) as proxy:
        error, elapsed_s = timed(proxy.proxies)

    assert isinstance(error, APICallError)
    assert str(error).startswith("GET /proxies -> HTTP 0: ReadTimeout")
    assert elapsed_s < TIMEOUT_S + TOLERANCE_S


def test_a_stuck_mock_admin_call_fails_naming_the_call(silent_server):
    with MockAdminClient(silent_server, "token", timeout_s=TIMEOUT_S) as admin:
        error, elapsed_s = timed(admin.faults)

    assert isinstance(error, APICallError)
    assert "-> HTTP 0: ReadTimeout" in str(error)
    assert elapsed_s < TIMEOUT_S + TOLERANCE_S


def test_the_run_bound_adds_up_the_phases():
    bound = RunBound(steady_state_s=30, fault_window_s=35, resolve_s=40.5)

    assert bound.total_s == 180 + 30 + 35 + 41 + 60
    assert bound.describe().startswith("346 s (estate start 180 + steady state 30")


def test_the_watchdog_signals_the_main_thread_once_the_bound_passes():
    received = []
    previous = signal.signal(signal.SIGUSR1, lambda s, f: received.append(s))
    watchdog = Watchdog(
        RunBound(0, 0, 0, estate_start_s=0, margin_s=0.2), signal.SIGUSR1
    )
    try:
        watchdog.start()
        deadline = time.monotonic() + TOLERANCE_S
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watchdog.cancel()
        signal.signal(signal.SIGUSR1, previous)

    assert received == [signal.SIGUSR1] and watchdog.overran


def test_a_cancelled_watchdog_never_signals():
    watchdog = Watchdog(RunBound(0, 0, 0, estate_start_s=0, margin_s=0.3))
    watchdog.start()

    watchdog.cancel()
    time.sleep(0.5)

    assert not watchdog.overran


EXPERIMENT = (
    Path(__file__).resolve().parents[2] / "experiments/claims-customer-latency.yaml"
)


def test_a_stuck_proxy_is_an_error_verdict_naming_the_call(
    silent_server, tmp_path, monkeypatch
):
    monkeypatch.setenv("TOXIPROXY_URL", silent_server)
    started = time.monotonic()

    result = run_experiment(EXPERIMENT, RunOptions(reports_dir=tmp_path))

    assert result.verdict.status is Status.ERROR
    assert result.verdict.reason.startswith(
        f"TOXIPROXY_URL is {silent_server!r}, but no Toxiproxy API answers there "
        "(ReadTimeout"
    ), result.verdict.reason
    assert time.monotonic() - started < 60


def test_a_run_past_its_upper_bound_is_an_error_verdict(
    silent_server, tmp_path, monkeypatch
):
    # The proxy never answers and the bound is shorter than the call's timeout.
    monkeypatch.setenv("TOXIPROXY_URL", silent_server)
    tiny = RunBound(0, 0, 0, estate_start_s=0, margin_s=1)
    monkeypatch.setattr(runner, "RunBound", lambda *phases: tiny)

    result = run_experiment(EXPERIMENT, RunOptions(reports_dir=tmp_path))

    assert result.verdict.status is Status.ERROR
    assert result.verdict.reason == (
        "the run overran its upper bound of 1 s (estate start 0 + steady state 0 "
        "+ faults 0 + resolve 0 + margin 1)"
    )
    (interrupted,) = [
        json.loads(line)
        for line in (result.report_dir / "journal.jsonl").read_text().splitlines()
        if '"interrupted"' in line
    ]
    assert interrupted["fields"] == {"signal": "SIGTERM", "by": "run bound"}
