"""Series the report draws, read once as a run ends.

Latency percentiles and throughput per watched service come from the
experiment's own Prometheus through range queries, before it stops; journeys
offered and started per second come from the load generator's per-second
counts. Every point is [t_s, value or None] on the journal's clock.
"""

import logging
import math
import time
from collections.abc import Iterable

from harness.errors import StackError
from harness.load.results import JourneyCounts
from harness.observe.durations import compact_duration
from harness.observe.prometheus import PrometheusAPI
from harness.report.journal import Journal

log = logging.getLogger(__name__)

# histogram_quantile over the buckets: estimates, as exact as the bucket edges.
LATENCY_QUANTILES = {
    "latency_p50_s": 0.5,
    "latency_p95_s": 0.95,
    "latency_p99_s": 0.99,
}
THROUGHPUT = "throughput_per_s"
OFFERED = "load:offered_per_s"
ACHIEVED = "load:achieved_per_s"


def report_queries(service: str, window_s: float) -> dict[str, str]:
    """PromQL of each per-service report series, keyed by its name's suffix.

    Known shortcoming: the throughput counts every answered request, errors
    included, and the percentiles are only as exact as the bucket edges.
    """
    window = compact_duration(window_s, "rate_window_s")
    selector = f'service="{service}"'
    buckets = (
        f"sum by (le) (rate(http_request_duration_seconds_bucket{{{selector}}}"
        f"[{window}]))"
    )
    queries = {
        name: f"histogram_quantile({quantile}, {buckets})"
        for name, quantile in LATENCY_QUANTILES.items()
    }
    queries[THROUGHPUT] = f"sum(rate(http_requests_total{{{selector}}}[{window}]))"
    return queries


def capture_prometheus_series(
    api: PrometheusAPI,
    journal: Journal,
    services: Iterable[str],
    window_s: float,
    step_s: float,
) -> None:
    """Add S:latency_p50_s ... S:throughput_per_s for each service, over the run.

    The first query that fails ends the capture: the run is cleaning up, and a
    Prometheus that failed once would make each later query wait its timeout.
    """
    end_s = journal.now_s()
    end_unix = time.time()
    start_unix = end_unix - end_s
    for service in services:
        for suffix, expr in report_queries(service, window_s).items():
            name = f"{service}:{suffix}"
            try:
                result = api.query_range(expr, start_unix, end_unix, step_s)
            except StackError:
                log.warning(
                    "report series not captured from %s on", name, exc_info=True
                )
                return
            for t_s, value in grid_points(result, start_unix, end_s, step_s):
                journal.sample(name, value, t_s)


def grid_points(
    result: list[tuple[dict, list[tuple[float, float]]]],
    start_unix: float,
    end_s: float,
    step_s: float,
) -> list[tuple[float, float | None]]:
    """One point per step from 0 to end_s; a step Prometheus left out is None."""
    if len(result) > 1:
        raise StackError(
            f"range query returned {len(result)} series; expected at most one"
        )
    by_step = {}
    for t_unix, value in result[0][1] if result else []:
        step = round((t_unix - start_unix) / step_s)
        by_step[step] = value if math.isfinite(value) else None
    steps = int(end_s // step_s) + 1
    return [(round(k * step_s, 3), by_step.get(k)) for k in range(steps)]


def capture_load_series(journal: Journal, journeys: JourneyCounts) -> None:
    """Add load:achieved_per_s (journeys started) and, for an open model,
    load:offered_per_s, one point at the middle of each wall-clock second.

    Known shortcoming: achieved counts journeys started, not ended, so a
    journey a fault slows counts as achieved when it starts.
    """
    for name, points in load_points(journeys, time.time() - journal.now_s()).items():
        for t_s, value in points:
            journal.sample(name, value, t_s)


def load_points(
    journeys: JourneyCounts, start_unix: float
) -> dict[str, list[tuple[float, float]]]:
    """The per-second counts on the journal's clock; seconds with none are 0."""
    counts = dict(journeys.started_per_second)
    if not counts:
        return {}
    seconds = range(min(counts), max(counts) + 1)
    at = {second: round(second + 0.5 - start_unix, 3) for second in seconds}
    series = {ACHIEVED: [(at[s], float(counts.get(s, 0))) for s in seconds]}
    if journeys.offered_rate_per_s is not None:
        offered = float(journeys.offered_rate_per_s)
        series[OFFERED] = [(at[s], offered) for s in seconds]
    return series
