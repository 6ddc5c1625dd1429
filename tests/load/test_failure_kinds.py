"""Timeouts and lost connections are failed requests and failed journeys, counted apart.

Each test points every journey of the mix at one misbehaving socket on
127.0.0.1 and runs real Locust for 3 s.
"""

import json
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from harness.load.results import LoadResult
from harness.load.runner import LoadRun
from harness.load.settings import JOURNEY_TARGETS, LoadSettings

from .hostile_servers import HOLD, REFUSE, RESET, HostileServer

SERVICES = ("customer-api", "policy-api", "claims-api", "payment-api")
TIMEOUT_S = 0.5


@pytest.fixture
def hostile() -> Iterator[Callable[[str], HostileServer]]:
    started: list[HostileServer] = []

    def make(behaviour: str) -> HostileServer:
        server = HostileServer(behaviour).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def every_journey_against(
    server: HostileServer, load_run: Callable[[LoadSettings, int], LoadRun]
) -> LoadResult:
    settings = LoadSettings(
        targets={service: server.url for service in SERVICES},
        journeys={name: 1 for name in JOURNEY_TARGETS},
        # 60 arrivals over five journeys: each is drawn with near certainty
        # (the chance that one is never drawn is about 5 x 0.8^60, 7e-6).
        arrival_rate_per_s=20.0,
        arrival_process="uniform",
        request_timeout_s=TIMEOUT_S,
    )
    return load_run(settings, 3).start().wait()


def assert_every_request_and_journey_failed(result: LoadResult) -> None:
    total = result.aggregated
    assert total.request_count > 0
    assert total.failure_count == total.request_count
    assert result.journeys.dropped == 0
    for name, outcome in result.journeys.by_journey.items():
        assert outcome.started > 0, name
        assert outcome.completed == 0, name
        assert outcome.failed == outcome.started - outcome.interrupted, name
    # Every journey stops at its first step, so one failed request each.
    assert result.journeys.failed == total.failure_count
    assert result.latencies.all.count == total.request_count
    assert result.latencies.success.count == 0


@pytest.mark.parametrize("behaviour", [REFUSE, RESET])
def test_refused_and_reset_connections_are_connection_errors(
    behaviour: str, hostile, load_run
) -> None:
    server = hostile(behaviour)

    result = every_journey_against(server, load_run)

    assert_every_request_and_journey_failed(result)
    assert result.latencies.connection_errors == result.aggregated.failure_count
    assert result.latencies.timeouts == 0
    data = result.as_dict()
    assert data["connection_errors"] == data["failures"]
    assert data["timeouts"] == 0
    assert data["latency_ms"]["success"]["p50"] is None
    if behaviour == RESET:
        assert server.accepted >= result.aggregated.request_count


def test_a_server_that_never_answers_times_every_request_out(hostile, load_run) -> None:
    server = hostile(HOLD)

    result = every_journey_against(server, load_run)

    assert_every_request_and_journey_failed(result)
    assert result.latencies.timeouts == result.aggregated.failure_count
    assert result.latencies.connection_errors == 0
    assert server.accepted >= result.aggregated.request_count
    # A timed-out request is in the all-requests histogram at the time it
    # gave up: the timeout, give or take scheduling (tolerance 0.3 s).
    p50_ms = result.as_dict()["latency_ms"]["all"]["p50"]
    assert TIMEOUT_S * 1000 <= p50_ms < (TIMEOUT_S + 0.3) * 1000
    assert any("no answer within request_timeout_s" in f.error for f in result.failures)


def test_each_client_error_is_sorted_into_its_kind() -> None:
    # The locustfile imports gevent, so it is loaded in an interpreter of its own.
    code = """
import json
from geventhttpclient.response import HTTPConnectionClosed
from geventhttpclient.useragent import RetriesExceeded
from harness.load.journeys import describe_error, failure_kind
errors = {
    "refused": ConnectionRefusedError(111, "Connection refused"),
    "reset": ConnectionResetError(104, "Connection reset by peer"),
    "closed": HTTPConnectionClosed("connection closed."),
    "broken_pipe": BrokenPipeError(32, "Broken pipe"),
    "timed_out": RetriesExceeded("http://127.0.0.1:1/x", 0, original=TimeoutError()),
    "not_http": ValueError("invalid literal"),
}
kinds = {k: failure_kind(describe_error(e, 200, 0.5)) for k, e in errors.items()}
print(json.dumps(kinds))
"""
    ran = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert json.loads(ran.stdout) == {
        "refused": "connection_error",
        "reset": "connection_error",
        "closed": "connection_error",
        "broken_pipe": "connection_error",
        "timed_out": "timeout",
        "not_http": None,
    }
