"""What a load run measured, read back from the files the Locust process wrote.

Two kinds of response-time percentiles are reported, both estimates. The
`*_ms_estimate` keys are Locust's own: it keeps response times rounded to
about two significant digits (whole ms below 100 ms, so a sub-ms answer reads
0), so a p95 of 2300 ms means "about 2.3 s", not an exact sample. `latency_ms`
holds the experiment's chosen percentiles, read from the locustfile's own
log-spaced histograms (harness.load.latency), of all requests and of the
successful ones. Arrivals dropped at max_in_flight count as failed requests
with no response time, so they raise the failure counts without pulling the
percentiles down.

The achieved rate is checked against the offered one: an open-model run that
started under UNDER_OFFERED_RATIO of the journeys it offered is flagged. A
closed model offers no rate, and its users wait for their answers, so a slow
estate lowers the load itself; such a run is flagged when the journeys it
started per second in the fault window fell under UNDER_OFFERED_RATIO of
those of the steady state before it. The flag is shown, not judged: it never
changes a verdict.
"""

import csv
import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import StackError
from harness.load.latency import (
    DEFAULT_PERCENTILES,
    RequestLatencies,
    resolution_note,
)
from harness.load.settings import CLOSED_MODEL, LATENCY_SUFFIX

log = logging.getLogger(__name__)

AGGREGATED = "Aggregated"
# A run that achieved less than this share of its offered rate is flagged.
UNDER_OFFERED_RATIO = 0.8


@dataclass(frozen=True)
class RequestStats:
    """One row of Locust's stats: a request name, or the aggregate of all."""

    method: str
    name: str
    request_count: int
    failure_count: int
    median_ms: float
    p95_ms: float
    p99_ms: float
    average_ms: float
    max_ms: float
    requests_per_s: float

    @property
    def failure_ratio(self) -> float:
        return self.failure_count / self.request_count if self.request_count else 0.0


@dataclass(frozen=True)
class FailureCount:
    """One kind of failure of one request name, and how often it happened."""

    method: str
    name: str
    error: str
    occurrences: int


@dataclass(frozen=True)
class HistoryRow:
    """One per-second row of Locust's stats history (percentiles: last ~10 s)."""

    timestamp_unix: int
    user_count: int
    method: str
    name: str
    requests_per_s: float
    failures_per_s: float
    median_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    total_request_count: int
    total_failure_count: int


@dataclass(frozen=True)
class JourneyOutcomes:
    """How often one journey of the mix started, completed and failed."""

    started: int
    completed: int
    failed: int

    @property
    def interrupted(self) -> int:
        return self.started - self.completed - self.failed


@dataclass(frozen=True)
class JourneyCounts:
    """Journeys offered, started and ended, in all and per journey of the mix.

    Open model: arrivals at offered_rate_per_s, each started or dropped.
    Closed model: `users` users, so offered_rate_per_s is None and the load
    is what achieved_journeys_per_s says.
    """

    model: str
    journeys: dict[str, float]  # the mix: name -> weight
    arrival_process: str | None
    offered_rate_per_s: float | None
    users: int | None
    think_time_s: float
    max_in_flight: int
    arrivals_due: int
    started: int
    dropped: int
    completed: int
    failed: int
    elapsed_s: float
    in_flight_peak: int
    schedule_lag_max_ms: float
    stopped_cleanly: bool
    started_per_second: tuple[tuple[int, int], ...]
    by_journey: dict[str, JourneyOutcomes]

    @property
    def interrupted(self) -> int:
        """Journeys still in flight when the run stopped."""
        return self.started - self.completed - self.failed

    @property
    def arrivals(self) -> int:
        """Arrivals the driver handled: each was started or dropped."""
        return self.started + self.dropped

    @property
    def achieved_arrival_rate_per_s(self) -> float:
        return self.arrivals / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def achieved_start_rate_per_s(self) -> float:
        """Journeys started per second; below the arrival rate when some dropped."""
        return self.started / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def achieved_journeys_per_s(self) -> float:
        """Journeys that ended (completed or failed) per second: the throughput."""
        ended = self.completed + self.failed
        return ended / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def offered_count(self) -> float:
        """Journeys the offered rate asks for over the time the schedule ran."""
        return (self.offered_rate_per_s or 0.0) * self.elapsed_s


@dataclass(frozen=True)
class RateCheck:
    """The achieved journey rate against the offered one, and whether it fell short.

    Open model: journeys started per second against the arrival rate.
    Closed model: offered_per_s is None; achieved_ratio compares the fault
    window's starts per second with the steady state's, when both are known.
    """

    offered_per_s: float | None
    achieved_per_s: float
    achieved_ratio: float | None
    under_offered: bool
    steady_achieved_per_s: float | None
    fault_window_achieved_per_s: float | None
    note: str


def check_rate(
    journeys: JourneyCounts, fault_window_unix: tuple[float, float] | None
) -> RateCheck:
    """Flag a run that achieved under UNDER_OFFERED_RATIO of what it offered.

    Known shortcoming: an open-model run is judged over the whole run, so a
    generator that fell behind only during the fault is diluted by the rest.
    Known shortcoming: a closed model's fault window spans the first injection
    to the last rollback, quiet stretches between faults included, and only
    whole seconds count, so a window under one whole second gives no ratio.
    """
    achieved = journeys.achieved_start_rate_per_s
    if journeys.model != CLOSED_MODEL:
        return _check_open_rate(journeys.offered_rate_per_s or 0.0, achieved)
    steady = fault = None
    if fault_window_unix is not None:
        start, end = fault_window_unix
        counts = dict(journeys.started_per_second)
        first_second = min(counts, default=math.ceil(start))
        # Whole seconds only: the first second of load and the seconds a
        # fault began or ended in are partly outside their window.
        steady = _starts_per_s(counts, first_second + 1, math.floor(start))
        fault = _starts_per_s(counts, math.ceil(start), math.floor(end))
    return _check_closed_rate(achieved, steady, fault)


def _check_open_rate(offered: float, achieved: float) -> RateCheck:
    ratio = achieved / offered if offered > 0 else None
    under = ratio is not None and ratio < UNDER_OFFERED_RATIO
    note = (
        f"open model: {achieved:.2f} journeys started per s against "
        f"{offered:g} offered ({_share(ratio)})"
    )
    if under:
        note += (
            f"; UNDER {UNDER_OFFERED_RATIO:.0%} of the offered rate: arrivals "
            "were dropped at max_in_flight or started late, so the estate got "
            "less load than the experiment asked for"
        )
    return RateCheck(offered, achieved, ratio, under, None, None, note)


def _check_closed_rate(
    achieved: float, steady: float | None, fault: float | None
) -> RateCheck:
    ratio = fault / steady if fault is not None and steady else None
    under = ratio is not None and ratio < UNDER_OFFERED_RATIO
    note = (
        "closed model: no offered rate; each user waits for its answers, so "
        "slower answers lower the load itself and hide slowness"
    )
    if ratio is None:
        note += f"; {achieved:.2f} journeys started per s over the run"
    else:
        note += (
            f"; {fault:.2f} journeys started per s in the fault window against "
            f"{steady:.2f} in the steady state ({_share(ratio)})"
        )
    if under:
        note += (
            f"; UNDER {UNDER_OFFERED_RATIO:.0%} of the steady state: the "
            "fault slowed the users down, and the load they offered fell with it"
        )
    return RateCheck(None, achieved, ratio, under, steady, fault, note)


def _starts_per_s(counts: dict[int, int], first: int, end: int) -> float | None:
    """Mean journeys started per second over the whole seconds [first, end)."""
    if end <= first:
        return None
    return sum(counts.get(second, 0) for second in range(first, end)) / (end - first)


def _share(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.0%}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(frozen=True)
class LoadResult:
    """Everything one load run measured."""

    requests: dict[str, RequestStats]
    aggregated: RequestStats
    failures: tuple[FailureCount, ...]
    exceptions: tuple[str, ...]
    journeys: JourneyCounts
    history: tuple[HistoryRow, ...]
    exit_code: int | None
    stats_are_final: bool
    out_dir: Path
    latencies: RequestLatencies
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    # Unix times the first fault was injected and the last rolled back.
    fault_window_unix: tuple[float, float] | None = None

    def with_fault_window(self, start_unix: float, end_unix: float) -> "LoadResult":
        """The same result, told when the faults acted (the closed model's check)."""
        return replace(self, fault_window_unix=(start_unix, end_unix))

    @property
    def rate(self) -> RateCheck:
        return check_rate(self.journeys, self.fault_window_unix)

    @property
    def offered_journey_rate_per_s(self) -> float | None:
        return self.journeys.offered_rate_per_s

    @property
    def achieved_journey_start_rate_per_s(self) -> float:
        return self.journeys.achieved_start_rate_per_s

    def history_of(self, name: str) -> tuple[HistoryRow, ...]:
        return tuple(row for row in self.history if row.name == name)

    def as_dict(self) -> dict:
        """The totals a report shows; every percentile is an estimate."""
        total = self.aggregated
        return {
            **self._locust_totals(total),
            **self._latency_dict(),
            **self._rate_dict(),
        }

    def _latency_dict(self) -> dict:
        latencies = self.latencies
        return {
            "percentiles": list(self.percentiles),
            "latency_ms": {
                "all": latencies.all.percentiles(self.percentiles),
                "success": latencies.success.percentiles(self.percentiles),
            },
            "latency_note": resolution_note(
                latencies.all.growth, latencies.all.count, tuple(self.percentiles)
            ),
            "latency_samples": {
                "all": latencies.all.count,
                "success": latencies.success.count,
            },
            "timeouts": latencies.timeouts,
            "connection_errors": latencies.connection_errors,
        }

    def _rate_dict(self) -> dict:
        rate = self.rate
        return {
            "offered_per_s": rate.offered_per_s,
            "achieved_per_s": _round(rate.achieved_per_s),
            "achieved_ratio": _round(rate.achieved_ratio),
            "under_offered": rate.under_offered,
            "steady_achieved_per_s": _round(rate.steady_achieved_per_s),
            "fault_window_achieved_per_s": _round(rate.fault_window_achieved_per_s),
            "rate_note": rate.note,
        }

    def _locust_totals(self, total: RequestStats) -> dict:
        return {
            "requests": total.request_count,
            "failures": total.failure_count,
            "failure_ratio": round(total.failure_ratio, 4),
            "median_ms_estimate": total.median_ms,
            "p95_ms_estimate": total.p95_ms,
            "p99_ms_estimate": total.p99_ms,
            "model": self.journeys.model,
            "users": self.journeys.users,
            "offered_journeys_per_s": self.offered_journey_rate_per_s,
            "achieved_journey_starts_per_s": round(
                self.achieved_journey_start_rate_per_s, 3
            ),
            "achieved_journeys_per_s": round(self.journeys.achieved_journeys_per_s, 3),
            "journeys_completed": self.journeys.completed,
            "journeys_failed": self.journeys.failed,
            "by_journey": {
                name: {
                    "started": o.started,
                    "completed": o.completed,
                    "failed": o.failed,
                }
                for name, o in self.journeys.by_journey.items()
            },
            "journeys_dropped": self.journeys.dropped,
            "journeys_interrupted": self.journeys.interrupted,
            "stats_are_final": self.stats_are_final,
            "by_request": {
                name: {
                    "requests": s.request_count,
                    "failures": s.failure_count,
                    "p95_ms_estimate": s.p95_ms,
                }
                for name, s in self.requests.items()
            },
            "failure_kinds": [
                {
                    "request": f.name,
                    "error": f.error,
                    "count": f.occurrences,
                }
                for f in self.failures
            ],
        }


def read_result(
    prefix: Path,
    exit_code: int | None,
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES,
) -> LoadResult:
    """Read the CSV and JSON files written under prefix by one Locust process."""
    final = Path(f"{prefix}_final_stats.csv").exists()
    if not final:
        log.warning(
            "no final stats at %s; using Locust's periodic CSVs, which may miss "
            "the last second",
            prefix,
        )
    kind = "_final" if final else ""
    rows = [_request_stats(row) for row in _rows(prefix, f"{kind}_stats.csv")]
    return LoadResult(
        requests={row.name: row for row in rows if row.name != AGGREGATED},
        aggregated=_aggregated(rows, prefix),
        failures=tuple(_failure(row) for row in _rows(prefix, f"{kind}_failures.csv")),
        exceptions=tuple(
            row["Message"] for row in _rows(prefix, f"{kind}_exceptions.csv")
        ),
        journeys=_journey_counts(Path(f"{prefix}_journeys.json")),
        history=tuple(_history_row(row) for row in _rows(prefix, "_stats_history.csv")),
        exit_code=exit_code,
        stats_are_final=final,
        out_dir=prefix.parent,
        latencies=_latencies(Path(f"{prefix}{LATENCY_SUFFIX}")),
        percentiles=tuple(percentiles),
    )


def _latencies(path: Path) -> RequestLatencies:
    try:
        return RequestLatencies.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StackError(f"cannot read response-time histograms {path}: {exc}") from exc


def _rows(prefix: Path, suffix: str) -> list[dict[str, str]]:
    path = Path(f"{prefix}{suffix}")
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError as exc:
        raise StackError(f"Locust wrote no {path.name}: {exc}") from exc


def _aggregated(rows: list[RequestStats], prefix: Path) -> RequestStats:
    for row in rows:
        if row.name == AGGREGATED:
            return row
    raise StackError(f"{prefix}_stats.csv has no {AGGREGATED!r} row")


def _request_stats(row: dict[str, str]) -> RequestStats:
    return RequestStats(
        method=row["Type"],
        name=row["Name"],
        request_count=int(row["Request Count"]),
        failure_count=int(row["Failure Count"]),
        # The 50% column, not "Median Response Time": Locust clamps the latter
        # to the exact min and max, so it can exceed the bucketed p95.
        median_ms=_number(row["50%"]) or 0.0,
        p95_ms=_number(row["95%"]) or 0.0,
        p99_ms=_number(row["99%"]) or 0.0,
        average_ms=_number(row["Average Response Time"]) or 0.0,
        max_ms=_number(row["Max Response Time"]) or 0.0,
        requests_per_s=_number(row["Requests/s"]) or 0.0,
    )


def _failure(row: dict[str, str]) -> FailureCount:
    return FailureCount(
        method=row["Method"],
        name=row["Name"],
        error=row["Error"],
        occurrences=int(row["Occurrences"]),
    )


def _history_row(row: dict[str, str]) -> HistoryRow:
    return HistoryRow(
        timestamp_unix=int(row["Timestamp"]),
        user_count=int(row["User Count"]),
        method=row["Type"],
        name=row["Name"],
        requests_per_s=_number(row["Requests/s"]) or 0.0,
        failures_per_s=_number(row["Failures/s"]) or 0.0,
        median_ms=_number(row["50%"]),
        p95_ms=_number(row["95%"]),
        p99_ms=_number(row["99%"]),
        total_request_count=int(row["Total Request Count"]),
        total_failure_count=int(row["Total Failure Count"]),
    )


def _journey_counts(path: Path) -> JourneyCounts:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StackError(f"cannot read journey counts {path}: {exc}") from exc
    if not data["stopped"]:
        log.warning("journey counts at %s were not finalised; Locust was killed", path)
    return JourneyCounts(
        model=data["model"],
        journeys=data["journeys"],
        arrival_process=data["arrival_process"],
        offered_rate_per_s=data["offered_rate_per_s"],
        users=data["users"],
        think_time_s=data["think_time_s"],
        max_in_flight=data["max_in_flight"],
        arrivals_due=data["arrivals_due"],
        started=data["started"],
        dropped=data["dropped"],
        completed=data["completed"],
        failed=data["failed"],
        elapsed_s=data["elapsed_s"],
        in_flight_peak=data["in_flight_peak"],
        schedule_lag_max_ms=data["schedule_lag_max_ms"],
        stopped_cleanly=data["stopped"],
        started_per_second=tuple(tuple(pair) for pair in data["started_per_second"]),
        by_journey={
            name: JourneyOutcomes(**outcomes)
            for name, outcomes in data["by_journey"].items()
        },
    )


def _number(text: str) -> float | None:
    # Locust writes "N/A" for percentiles of a name with no requests yet.
    try:
        return float(text)
    except ValueError:
        return None
