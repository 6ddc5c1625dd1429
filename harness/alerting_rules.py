"""Thresholds and windows of the cause and anomaly alerts (alerting_rules.yaml).

Every duration is written at its production value. The experiment rule set
divides each by compression_factor (observability.yaml), so every window is
checked here to still hold at least MIN_SCRAPES_PER_WINDOW scrapes once
divided, with the file and line of the window that would not.
"""

from dataclasses import dataclass, field

from harness.fields import Fields

# A rate over fewer scrapes than this swings with a single late scrape.
MIN_SCRAPES_PER_WINDOW = 4
MAX_DURATION_S = 7 * 86_400


@dataclass(frozen=True)
class DependencyErrorsRule:
    """Share of a caller's calls to one dependency that failed."""

    window_s: float
    for_s: float
    max_failed_share: float
    min_calls: int


@dataclass(frozen=True)
class DependencyLatencyRule:
    """Share of a caller's calls to one dependency slower than part of its timeout."""

    window_s: float
    for_s: float
    slow_share_of_timeout: float
    max_slow_share: float
    min_calls: int


@dataclass(frozen=True)
class SaturationRule:
    """Requests in flight in one service, averaged over a window."""

    window_s: float
    for_s: float
    max_in_flight: float
    per_service: dict[str, float] = field(default_factory=dict)

    def max_in_flight_for(self, service: str) -> float:
        return self.per_service.get(service, self.max_in_flight)


@dataclass(frozen=True)
class CircuitBreakerRule:
    """Share of a window one caller's breaker to one dependency spent open."""

    window_s: float
    for_s: float
    min_open_share: float


@dataclass(frozen=True)
class SyntheticJourneysRule:
    """Share of one synthetic journey's runs that failed over a window."""

    window_s: float
    for_s: float
    max_failed_share: float
    min_runs: int


@dataclass(frozen=True)
class AnomalyRule:
    """A service's short-window error ratio or latency against its own baseline."""

    short_window_s: float
    baseline_window_s: float
    for_s: float
    stddevs: float
    min_requests: int
    error_ratio_min_change: float
    latency_quantile: float
    latency_min_change_s: float
    # Share of the baseline window's evaluations that must hold a value: a
    # baseline of a few points (a young estate, a service just back) is no
    # baseline, and its deviation is no measure of noise.
    min_baseline_share: float


@dataclass(frozen=True)
class AlertingRules:
    """Every section of alerting_rules.yaml."""

    dependency_errors: DependencyErrorsRule
    dependency_latency: DependencyLatencyRule
    saturation: SaturationRule
    circuit_breaker: CircuitBreakerRule
    synthetic_journeys: SyntheticJourneysRule
    anomaly: AnomalyRule

    def slow_call_thresholds_s(self, timeouts_s: list[float]) -> set[float]:
        """The slow-call edge of every timeout: each must be a bucket edge."""
        share = self.dependency_latency.slow_share_of_timeout
        return {round(timeout_s * share, 6) for timeout_s in timeouts_s}


@dataclass(frozen=True)
class _Compression:
    """What a window must survive: the experiment's factor and scrape interval."""

    factor: float
    scrape_interval_s: float

    @property
    def shortest_window_s(self) -> float:
        return MIN_SCRAPES_PER_WINDOW * self.scrape_interval_s * self.factor


SECTIONS = (
    "dependency_errors",
    "dependency_latency",
    "saturation",
    "circuit_breaker",
    "synthetic_journeys",
    "anomaly",
)


def read_alerting_rules(
    doc: Fields,
    services: list[str],
    compression_factor: float,
    scrape_interval_s: float,
) -> AlertingRules:
    """Every section of the document, checked; windows against the compression."""
    doc.require_known(SECTIONS)
    squeeze = _Compression(compression_factor, scrape_interval_s)
    return AlertingRules(
        dependency_errors=_dependency_errors(doc.child("dependency_errors"), squeeze),
        dependency_latency=_dependency_latency(
            doc.child("dependency_latency"), squeeze
        ),
        saturation=_saturation(doc.child("saturation"), squeeze, services),
        circuit_breaker=_circuit_breaker(doc.child("circuit_breaker"), squeeze),
        synthetic_journeys=_synthetic_journeys(
            doc.child("synthetic_journeys"), squeeze
        ),
        anomaly=_anomaly(doc.child("anomaly"), squeeze),
    )


def _dependency_errors(entry: Fields, squeeze: _Compression) -> DependencyErrorsRule:
    entry.require_known(["window_s", "for_s", "max_failed_share", "min_calls"])
    return DependencyErrorsRule(
        window_s=_window(entry, "window_s", squeeze),
        for_s=_for(entry),
        max_failed_share=_share(entry, "max_failed_share"),
        min_calls=_count(entry, "min_calls"),
    )


def _dependency_latency(entry: Fields, squeeze: _Compression) -> DependencyLatencyRule:
    entry.require_known(
        ["window_s", "for_s", "slow_share_of_timeout", "max_slow_share", "min_calls"]
    )
    return DependencyLatencyRule(
        window_s=_window(entry, "window_s", squeeze),
        for_s=_for(entry),
        slow_share_of_timeout=_share(entry, "slow_share_of_timeout"),
        max_slow_share=_share(entry, "max_slow_share"),
        min_calls=_count(entry, "min_calls"),
    )


def _saturation(
    entry: Fields, squeeze: _Compression, services: list[str]
) -> SaturationRule:
    entry.require_known(["window_s", "for_s", "max_in_flight", "services"])
    return SaturationRule(
        window_s=_window(entry, "window_s", squeeze),
        for_s=_for(entry),
        max_in_flight=_in_flight(entry),
        per_service=_per_service_in_flight(entry, services),
    )


def _per_service_in_flight(entry: Fields, services: list[str]) -> dict[str, float]:
    if "services" not in entry.data:
        return {}
    section = entry.child("services")
    limits = {}
    for name in section.data:
        if name not in services:
            section.fail(
                section.here + (name,),
                name,
                f"a declared service: {', '.join(services)}",
            )
        override = section.child(name)
        override.require_known(["max_in_flight"])
        limits[name] = _in_flight(override)
    return limits


def _circuit_breaker(entry: Fields, squeeze: _Compression) -> CircuitBreakerRule:
    entry.require_known(["window_s", "for_s", "min_open_share"])
    return CircuitBreakerRule(
        window_s=_window(entry, "window_s", squeeze),
        for_s=_for(entry),
        min_open_share=_share(entry, "min_open_share"),
    )


def _synthetic_journeys(entry: Fields, squeeze: _Compression) -> SyntheticJourneysRule:
    entry.require_known(["window_s", "for_s", "max_failed_share", "min_runs"])
    return SyntheticJourneysRule(
        window_s=_window(entry, "window_s", squeeze),
        for_s=_for(entry),
        max_failed_share=_share(entry, "max_failed_share"),
        min_runs=_count(entry, "min_runs"),
    )


def _anomaly(entry: Fields, squeeze: _Compression) -> AnomalyRule:
    entry.require_known(
        [
            "short_window_s",
            "baseline_window_s",
            "for_s",
            "stddevs",
            "min_requests",
            "error_ratio_min_change",
            "latency_quantile",
            "latency_min_change_s",
            "min_baseline_share",
        ]
    )
    short_window_s = _window(entry, "short_window_s", squeeze)
    baseline_window_s = _window(entry, "baseline_window_s", squeeze)
    if baseline_window_s < 2 * short_window_s:
        entry.fail(
            entry.here + ("baseline_window_s",),
            baseline_window_s,
            f"at least twice short_window_s ({2 * short_window_s:g} s), so the "
            "baseline holds more than the change it is compared with",
        )
    return AnomalyRule(
        short_window_s=short_window_s,
        baseline_window_s=baseline_window_s,
        for_s=_for(entry),
        stddevs=entry.number("stddevs", minimum=0.5, maximum=10),
        min_requests=_count(entry, "min_requests"),
        error_ratio_min_change=_share(entry, "error_ratio_min_change"),
        latency_quantile=_share(entry, "latency_quantile", below_one=True),
        latency_min_change_s=entry.number("latency_min_change_s", minimum=0.001),
        min_baseline_share=_share(entry, "min_baseline_share"),
    )


def _window(entry: Fields, key: str, squeeze: _Compression) -> float:
    shortest = squeeze.shortest_window_s
    value = entry.get(
        key,
        (int, float),
        check=lambda v: shortest <= v <= MAX_DURATION_S,
        accepted=(
            f"a number of seconds from {shortest:g} to {MAX_DURATION_S}: divided "
            f"by compression_factor ({squeeze.factor:g}) a window must still hold "
            f"{MIN_SCRAPES_PER_WINDOW} scrapes of {squeeze.scrape_interval_s:g} s"
        ),
    )
    return float(value)


def _for(entry: Fields) -> float:
    return entry.number("for_s", minimum=0, maximum=MAX_DURATION_S)


def _share(entry: Fields, key: str, below_one: bool = False) -> float:
    top = "below 1" if below_one else "at most 1"
    value = entry.get(
        key,
        (int, float),
        check=lambda v: 0 < v < 1 if below_one else 0 < v <= 1,
        accepted=f"a share above 0 and {top}, such as 0.05",
    )
    return float(value)


def _count(entry: Fields, key: str) -> int:
    return entry.get(
        key, int, check=lambda v: 1 <= v <= 1_000_000, accepted="an integer >= 1"
    )


def _in_flight(entry: Fields) -> float:
    return entry.number("max_in_flight", minimum=1, maximum=1_000_000)
