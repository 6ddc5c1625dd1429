"""The Prometheus metrics one mock exports, in a registry the app owns.

Every label set a route or a dependency can produce is created at zero when the
app is built: an alert rule that divides errors by requests sees a series from
the first scrape, instead of nothing until the first error happens.

The mocks declare no serving capacity of their own (uvicorn runs without a
concurrency limit), so http_requests_in_flight has no ceiling to be read
against here; saturation thresholds are declared with the alert rules
(config/alerting_rules.yaml).
"""

from collections.abc import Iterable
from enum import StrEnum

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class Outcome(StrEnum):
    """How one call to a dependency ended."""

    OK = "ok"  # the dependency answered with a status the caller expected
    ERROR = "error"  # connection failed, 5xx, or an answer the caller cannot use
    TIMEOUT = "timeout"  # no complete answer within the dependency's timeout_s
    FALLBACK = "fallback"  # not called: the fallback answered instead
    REJECTED = "rejected"  # not called: circuit breaker open or bulkhead full


# Any route can fail unexpectedly; declaring 500 up front keeps it visible at 0.
UNEXPECTED_ERROR_CODE = 500

EXPOSITION_CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServiceMetrics:
    """Request, dependency and build metrics of one service."""

    def __init__(self, service: str, version: str, buckets_s: Iterable[float]):
        self.service = service
        self.registry = CollectorRegistry()
        self._routes: set[tuple[str, str]] = set()
        self._requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["service", "route", "method", "code"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to sending the last byte of its answer.",
            ["service", "route", "method"],
            buckets=tuple(buckets_s),
            registry=self.registry,
        )
        self._in_flight = Gauge(
            "http_requests_in_flight",
            "Requests to service routes received and not yet answered.",
            ["service"],
            registry=self.registry,
        )
        self._in_flight.labels(service).set(0)
        self._dependency_requests = Counter(
            "dependency_requests",
            "Calls to dependencies, by how each ended.",
            ["service", "dependency", "outcome"],
            registry=self.registry,
        )
        self._dependency_duration = Histogram(
            "dependency_request_duration_seconds",
            "Time one attempt at a dependency call took, as the caller saw it, "
            "from asking for a connection to the last byte of the answer.",
            ["service", "dependency"],
            buckets=tuple(buckets_s),
            registry=self.registry,
        )
        self._fallback_active = Gauge(
            "dependency_fallback_active",
            "1 while a dependency's fallback answers instead of the dependency.",
            ["service", "dependency"],
            registry=self.registry,
        )
        self._build_info = Gauge(
            "mock_build_info",
            "Always 1; the labels name the mock service and its running version.",
            ["service", "version"],
            registry=self.registry,
        )
        self.version = version
        self._build_info.labels(service, version).set(1)
        self._faults_active = Gauge(
            "mock_faults_active",
            "Faults injected through the admin API and still active, by kind.",
            ["service", "kind"],
            registry=self.registry,
        )
        self._fault_affected = Counter(
            "mock_fault_affected_requests",
            "Requests (or dependency calls) an injected fault acted on, by kind.",
            ["service", "kind"],
            registry=self.registry,
        )

    def declare_route(self, route: str, method: str, codes: Iterable[int]) -> None:
        """Export every series of one route at zero and start counting it."""
        self._routes.add((route, method))
        self._duration.labels(self.service, route, method)
        for code in sorted({*codes, UNEXPECTED_ERROR_CODE}):
            self._requests.labels(self.service, route, method, str(code))

    def declare_dependency(self, dependency: str) -> None:
        """Export every outcome and duration of one dependency at zero."""
        for outcome in Outcome:
            self._dependency_requests.labels(self.service, dependency, outcome.value)
        self._dependency_duration.labels(self.service, dependency)
        self._fallback_active.labels(self.service, dependency).set(0)

    def counts(self, route: str, method: str) -> bool:
        """Whether requests to this route and method are counted."""
        return (route, method) in self._routes

    def observe_request(
        self, route: str, method: str, code: int, duration_s: float
    ) -> None:
        self._requests.labels(self.service, route, method, str(code)).inc()
        self._duration.labels(self.service, route, method).observe(duration_s)

    def count_dependency_call(self, dependency: str, outcome: Outcome) -> None:
        self._dependency_requests.labels(self.service, dependency, outcome.value).inc()

    def observe_dependency_call(self, dependency: str, duration_s: float) -> None:
        self._dependency_duration.labels(self.service, dependency).observe(duration_s)

    def request_started(self) -> None:
        self._in_flight.labels(self.service).inc()

    def request_finished(self) -> None:
        self._in_flight.labels(self.service).dec()

    def set_fallback_active(self, dependency: str, active: bool) -> None:
        self._fallback_active.labels(self.service, dependency).set(1 if active else 0)

    def set_version(self, version: str) -> None:
        """Show version as the running one, as a deploy or a rollback would."""
        if version == self.version:
            return
        self._build_info.remove(self.service, self.version)
        self._build_info.labels(self.service, version).set(1)
        self.version = version

    def declare_faults(self, kinds: Iterable[str]) -> None:
        """Export every fault kind at zero: none active, nothing affected."""
        for kind in kinds:
            self._faults_active.labels(self.service, kind).set(0)
            self._fault_affected.labels(self.service, kind)

    def set_faults_active(self, kind: str, count: int) -> None:
        self._faults_active.labels(self.service, kind).set(count)

    def count_fault_affected(self, kind: str) -> None:
        self._fault_affected.labels(self.service, kind).inc()

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
