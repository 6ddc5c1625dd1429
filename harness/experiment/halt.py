"""Halt conditions: the limits beyond which an experiment stops hurting the estate.

An experiment may list, under `halt:`, conditions evaluated against the real
Prometheus while its faults are live:

    halt:
      - error_ratio: {service: policy-api, above: 0.2}
      - budget_spent: {service: claims-api, above: 0.5}
      - after_s: 300

When one trips, the run stops injecting, rolls every fault back and ends with
the verdict `aborted`, naming the condition, the value seen and the threshold.
"""

import logging
import math
import threading
from dataclasses import dataclass

from harness.config import Estate
from harness.errors import HarnessError, StackError
from harness.fields import Fields
from harness.observe.durations import compact_duration
from harness.observe.prometheus import PrometheusAPI
from harness.report.journal import Journal

log = logging.getLogger(__name__)

ERROR_RATIO = "error_ratio"
BUDGET_SPENT = "budget_spent"
AFTER_S = "after_s"
KINDS = (ERROR_RATIO, BUDGET_SPENT, AFTER_S)
# A wall-clock cap is at most as long as the longest phase an experiment may have.
MAX_AFTER_S = 3600


@dataclass(frozen=True)
class HaltCondition:
    kind: str
    above: float  # the threshold; seconds for after_s
    service: str = ""  # empty for after_s
    where: str = ""  # file:line of the entry

    def describe(self) -> str:
        if self.kind == AFTER_S:
            return f"after_s {self.above:g}"
        return f"{self.kind} of {self.service} above {self.above:g}"


@dataclass(frozen=True)
class HaltTrip:
    condition: HaltCondition
    observed: float
    at_s: float  # seconds since the first fault was injected

    @property
    def reason(self) -> str:
        condition = self.condition
        if condition.kind == AFTER_S:
            return (
                f"halt condition after_s tripped: {self.observed:.1f} s into the "
                f"fault window, cap {condition.above:g} s ({condition.where})"
            )
        return (
            f"halt condition {condition.kind} of {condition.service} tripped: "
            f"observed {self.observed:.4g}, threshold {condition.above:g} "
            f"({condition.where})"
        )


class Halted(HarnessError):
    """A halt condition tripped; the run stops and rolls back."""

    def __init__(self, trip: HaltTrip):
        super().__init__(trip.reason)
        self.trip = trip


def parse_halt(doc: Fields, estate: Estate) -> tuple[HaltCondition, ...]:
    """The `halt:` list of an experiment; empty when it has none."""
    conditions = tuple(_condition(entry, estate) for entry in doc.items("halt", []))
    if sum(c.kind == AFTER_S for c in conditions) > 1:
        doc.fail(("halt",), doc.data["halt"], "at most one after_s entry")
    return conditions


def _condition(entry: Fields, estate: Estate) -> HaltCondition:
    where = entry.doc.where(entry.here)
    if len(entry.data) != 1:
        entry.fail(
            entry.here,
            entry.data,
            f"one entry per list item, one of: {', '.join(KINDS)}",
        )
    entry.require_known(KINDS)
    (kind,) = entry.data
    if kind == AFTER_S:
        seconds = entry.number(AFTER_S, minimum=1, maximum=MAX_AFTER_S)
        return HaltCondition(AFTER_S, seconds, where=where)
    body = entry.child(kind)
    body.require_known(["service", "above"])
    if kind == ERROR_RATIO:
        service = body.choice("service", estate.services)
    else:
        # The budget is the SLO's: a service without one has none to spend.
        service = body.choice("service", estate.slos)
    above = body.get(
        "above",
        (int, float),
        check=lambda v: math.isfinite(v) and 0 < v < 1,
        accepted="a share above 0 and below 1, such as 0.2",
    )
    return HaltCondition(kind, float(above), service, where)


def error_ratio_expr(service: str, window_s: float) -> str:
    """PromQL: the share of the service's answers that were 5xx over the window."""
    window = compact_duration(window_s, "halt window")
    selector = f'service="{service}"'
    errors = f'sum(rate(http_requests_total{{{selector},code=~"5.."}}[{window}]))'
    return f"{errors} / sum(rate(http_requests_total{{{selector}}}[{window}]))"


def budget_spent(
    error_ratio: float, objective: float, elapsed_s: float, period_s: float
) -> float:
    """The share of a period's error budget spent at error_ratio for elapsed_s.

    Burning at error_ratio / (1 - objective) times the sustainable rate for
    elapsed_s spends that many elapsed_s / period_s of the whole budget.
    """
    return error_ratio / (1 - objective) * elapsed_s / period_s


def first_trip(
    conditions: tuple[HaltCondition, ...],
    readings: dict[tuple[str, str], float | None],
    elapsed_s: float,
) -> HaltTrip | None:
    """The first condition past its threshold, given readings per (kind, service).

    A missing reading (no traffic, a failed query) trips nothing: a halt acts
    on what was seen, and the verdict's other checks catch what was not.
    """
    for condition in conditions:
        if condition.kind == AFTER_S:
            observed = elapsed_s
        else:
            observed = readings.get((condition.kind, condition.service))
        if observed is None or not math.isfinite(observed):
            continue
        if observed > condition.above:
            return HaltTrip(condition, observed, elapsed_s)
    return None


class HaltWatcher:
    """Evaluates the halt conditions on its own thread once faults are live."""

    def __init__(
        self,
        conditions: tuple[HaltCondition, ...],
        api: PrometheusAPI,
        journal: Journal,
        estate: Estate,
        clock,
    ):
        self.conditions = conditions
        self.api = api
        self.journal = journal
        self.estate = estate
        self._clock = clock
        self._started_at = clock()
        self._stop = threading.Event()
        self._trip: HaltTrip | None = None
        self._thread = threading.Thread(target=self._loop, name="halt-watcher")
        self._thread.daemon = True

    @property
    def interval_s(self) -> float:
        return self.estate.observability.scrape_interval_s

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def check(self) -> None:
        """Raise Halted in the caller's thread once a condition has tripped."""
        if self._trip is not None:
            raise Halted(self._trip)

    def _loop(self) -> None:
        while not self._stop.is_set() and self._trip is None:
            try:
                self.poll()
            except Exception:
                log.warning("halt poll failed", exc_info=True)
            self._stop.wait(self.interval_s)

    def poll(self) -> None:
        elapsed_s = self._clock() - self._started_at
        trip = first_trip(self.conditions, self._readings(elapsed_s), elapsed_s)
        if trip is None:
            return
        self.journal.record(
            "halted",
            condition=trip.condition.kind,
            service=trip.condition.service,
            observed=round(trip.observed, 6),
            threshold=trip.condition.above,
            where=trip.condition.where,
        )
        self._trip = trip

    def _readings(self, elapsed_s: float) -> dict[tuple[str, str], float | None]:
        readings = {}
        window_s = self.estate.observability.rate_window_s
        for condition in self.conditions:
            key = (condition.kind, condition.service)
            if condition.kind == ERROR_RATIO and key not in readings:
                readings[key] = self._scalar(
                    error_ratio_expr(condition.service, window_s)
                )
            elif condition.kind == BUDGET_SPENT and key not in readings:
                readings[key] = self._budget_spent(condition.service, elapsed_s)
        return readings

    def _budget_spent(self, service: str, elapsed_s: float) -> float | None:
        obs = self.estate.observability
        # The share since the first fault, over at least one rate window.
        window_s = max(obs.rate_window_s, math.ceil(elapsed_s))
        ratio = self._scalar(error_ratio_expr(service, window_s))
        if ratio is None:
            return None
        period_s = self.estate.slo_specs.policy.period_s / obs.compression_factor
        objective = self.estate.slos[service].availability_objective
        return budget_spent(ratio, objective, elapsed_s, period_s)

    def _scalar(self, expr: str) -> float | None:
        try:
            return self.api.scalar(expr)
        except StackError:
            log.warning("halt query failed: %s", expr, exc_info=True)
            return None
