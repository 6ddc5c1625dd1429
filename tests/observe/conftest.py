"""Fixtures for the observe tests: the declared estate, the binaries, a target."""

import threading
from collections.abc import Iterator, Sequence

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server

from harness.config import Estate, load_estate
from harness.observe import Binaries, find_binaries
from harness.stack.ports import LOOPBACK


@pytest.fixture(scope="session")
def estate() -> Estate:
    return load_estate()


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    # Deliberately not a skip: without the real programs these tests prove
    # nothing, and the error says how to install them.
    return find_binaries()


class MetricsTarget:
    """Stands in for one mock: the mock metric names, fed by a ticking thread."""

    ROUTE = "/claims"

    def __init__(
        self,
        service: str,
        buckets: Sequence[float],
        requests_per_tick: int = 1,
        tick_s: float = 0.05,
    ):
        self.service = service
        self.requests_per_tick = requests_per_tick
        self.tick_s = tick_s
        self.registry = CollectorRegistry()
        self._failing = threading.Event()
        self._stopping = threading.Event()
        self._server = None
        self._ticker: threading.Thread | None = None
        self._declare(buckets)

    def _declare(self, buckets: Sequence[float]) -> None:
        self.requests = Counter(
            "http_requests",
            "Requests answered.",
            ["service", "route", "method", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Request duration.",
            ["service", "route", "method"],
            buckets=buckets,
            registry=self.registry,
        )
        Counter(
            "dependency_requests",
            "Calls to dependencies.",
            ["service", "dependency", "outcome"],
            registry=self.registry,
        ).labels(self.service, "policy-api", "ok")
        Gauge(
            "dependency_fallback_active",
            "Fallback in use.",
            ["service", "dependency"],
            registry=self.registry,
        ).labels(self.service, "policy-api").set(0)
        Gauge(
            "mock_build_info", "Build.", ["service", "version"], registry=self.registry
        ).labels(self.service, "test").set(1)
        for code in ("200", "500"):
            self.requests.labels(self.service, self.ROUTE, "POST", code)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self._server.server_port}"

    def start(self) -> "MetricsTarget":
        self._server, _ = start_http_server(0, addr=LOOPBACK, registry=self.registry)
        self._ticker = threading.Thread(target=self._tick, name="target", daemon=True)
        self._ticker.start()
        return self

    def set_failing(self, failing: bool) -> None:
        """From the next tick on, every request answers 500 (or 200 again)."""
        if failing:
            self._failing.set()
        else:
            self._failing.clear()

    def stop_serving(self) -> None:
        """Close the metrics port, as a crashed mock would."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2.0)
        self.stop_serving()

    def _tick(self) -> None:
        while not self._stopping.wait(self.tick_s):
            code = "500" if self._failing.is_set() else "200"
            self.requests.labels(self.service, self.ROUTE, "POST", code).inc(
                self.requests_per_tick
            )
            self.duration.labels(self.service, self.ROUTE, "POST").observe(0.01)


@pytest.fixture
def claims_target(estate: Estate) -> Iterator[MetricsTarget]:
    target = MetricsTarget("claims-api", estate.latency_buckets_s()).start()
    yield target
    target.stop()
