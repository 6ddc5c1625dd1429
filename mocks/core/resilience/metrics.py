"""Metric families of the resilience policies, in the service's own registry.

Every series exists at zero from start-up, like the request metrics: a rule
that watches breaker state or retries sees a series from the first scrape.
Breaker state and calls in flight are read from the live guards at scrape
time, so an open breaker whose open_s has passed is shown half-open even when
no call has come along to notice.
"""

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mocks.core.resilience.breaker import BreakerState


class FallbackReason:
    """Why a fallback answered instead of the dependency."""

    SWITCHED = "switched"  # the fallback was switched on through the admin API
    FAILED = "failed"  # the call timed out, could not connect or answered 5xx
    REJECTED = "rejected"  # the breaker was open or the bulkhead full

    ALL = (SWITCHED, FAILED, REJECTED)


class ResilienceMetrics:
    """Counters of retries, budget exhaustion, fallbacks and bulkhead rejections."""

    def __init__(self, service: str, registry: CollectorRegistry):
        self.service = service
        self._retries = Counter(
            "dependency_retries",
            "Retries of calls to a dependency (attempts after the first).",
            ["service", "dependency"],
            registry=registry,
        )
        self._budget_exhausted = Counter(
            "dependency_retry_budget_exhausted",
            "Retries not made because the retry budget was spent.",
            ["service", "dependency"],
            registry=registry,
        )
        self._fallbacks = Counter(
            "dependency_fallbacks_served",
            "Answers a fallback gave instead of the dependency, by reason.",
            ["service", "dependency", "reason"],
            registry=registry,
        )
        self._bulkhead_rejections = Counter(
            "dependency_bulkhead_rejections",
            "Calls refused at once because the dependency's bulkhead was full.",
            ["service", "dependency"],
            registry=registry,
        )

    def declare(self, dependency: str) -> None:
        """Export every counter of one dependency at zero."""
        self._retries.labels(self.service, dependency)
        self._budget_exhausted.labels(self.service, dependency)
        self._bulkhead_rejections.labels(self.service, dependency)
        for reason in FallbackReason.ALL:
            self._fallbacks.labels(self.service, dependency, reason)

    def retried(self, dependency: str) -> None:
        self._retries.labels(self.service, dependency).inc()

    def budget_exhausted(self, dependency: str) -> None:
        self._budget_exhausted.labels(self.service, dependency).inc()

    def fallback_served(self, dependency: str, reason: str) -> None:
        self._fallbacks.labels(self.service, dependency, reason).inc()

    def bulkhead_rejected(self, dependency: str) -> None:
        self._bulkhead_rejections.labels(self.service, dependency).inc()


class LiveStateCollector(Collector):
    """Breaker state and calls in flight of every dependency, read at scrape."""

    def __init__(
        self,
        service: str,
        breaker_states: Callable[[], Mapping[str, BreakerState]],
        in_flight: Callable[[], Mapping[str, int]],
    ):
        self.service = service
        self._breaker_states = breaker_states
        self._in_flight = in_flight

    def collect(self) -> Iterable[GaugeMetricFamily]:
        states = GaugeMetricFamily(
            "dependency_circuit_state",
            "1 for the state each dependency's circuit breaker is in, else 0.",
            labels=["service", "dependency", "state"],
        )
        for dependency, current in self._breaker_states().items():
            for state in BreakerState:
                value = 1.0 if state is current else 0.0
                states.add_metric([self.service, dependency, state.value], value)
        yield states
        flying = GaugeMetricFamily(
            "dependency_calls_in_flight",
            "Calls to each dependency started and not yet finished.",
            labels=["service", "dependency"],
        )
        for dependency, count in self._in_flight().items():
            flying.add_metric([self.service, dependency], float(count))
        yield flying

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # Names only, so registering does not call collect() before start-up.
        yield GaugeMetricFamily("dependency_circuit_state", "", labels=[])
        yield GaugeMetricFamily("dependency_calls_in_flight", "", labels=[])
