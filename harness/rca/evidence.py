"""What the root-cause analysis reads: per-service SLIs, per-edge call metrics
and request-log spans, over the fault window and the steady state before it.

These are plain values, so the analysis is a pure function that tests feed
with fabricated numbers; gather.py fills them from Prometheus and the logs.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Window:
    """A stretch of the run, on the journal's clock and as Unix time."""

    from_s: float
    to_s: float
    unix_offset_s: float  # add to a journal t_s to get Unix time

    def __post_init__(self):
        if not self.to_s > self.from_s:
            raise ValueError(
                f"window to_s={self.to_s!r} must be after from_s={self.from_s!r}"
            )

    @property
    def duration_s(self) -> float:
        return self.to_s - self.from_s

    @property
    def unix_from(self) -> float:
        return self.from_s + self.unix_offset_s

    @property
    def unix_to(self) -> float:
        return self.to_s + self.unix_offset_s


@dataclass(frozen=True)
class ServiceStats:
    """One service's requests over one window."""

    requests: float = 0.0
    errors: float = 0.0  # answered 5xx
    slow: float = 0.0  # slower than the service's SLO latency threshold
    down: bool = False  # its scrape failed at least once in the window

    @property
    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests > 0 else 0.0

    @property
    def slow_ratio(self) -> float:
        return self.slow / self.requests if self.requests > 0 else 0.0


@dataclass(frozen=True)
class EdgeStats:
    """One caller's attempts at one dependency over one window."""

    ok: float = 0.0
    errors: float = 0.0  # refused, reset, 5xx or an unusable answer
    timeouts: float = 0.0
    rejected: float = 0.0  # not called: breaker open or bulkhead full
    duration_sum_s: float = 0.0
    duration_count: float = 0.0

    @property
    def calls(self) -> float:
        return self.ok + self.errors + self.timeouts + self.rejected

    @property
    def failed(self) -> float:
        return self.errors + self.timeouts + self.rejected

    @property
    def failure_ratio(self) -> float:
        return self.failed / self.calls if self.calls > 0 else 0.0

    @property
    def mean_s(self) -> float | None:
        if self.duration_count <= 0:
            return None
        return self.duration_sum_s / self.duration_count


@dataclass(frozen=True)
class Span:
    """One request a mock served, from its request log."""

    service: str
    route: str
    status: int
    end_unix: float
    duration_s: float
    trace_id: str
    span_id: str
    parent_span_id: str | None

    @property
    def start_unix(self) -> float:
        return self.end_unix - self.duration_s


@dataclass(frozen=True)
class Evidence:
    """Everything the analysis may look at; never the injected faults."""

    # service -> its dependencies (services and externals), from estate.yaml
    graph: dict[str, tuple[str, ...]]
    # service -> (availability objective, latency threshold s, latency objective)
    objectives: dict[str, tuple[float, float, float]]
    window: dict[str, ServiceStats]
    baseline: dict[str, ServiceStats]
    # route name "<caller>_to_<callee>" -> stats
    edges: dict[str, EdgeStats]
    edges_baseline: dict[str, EdgeStats]
    spans: list[Span] = field(default_factory=list)
    spans_baseline: list[Span] = field(default_factory=list)
    window_s: tuple[float, float] | None = None  # journal clock, for the record
