"""Background watchers that turn Prometheus state into journal events and series.

Each watcher polls on its own thread, stops promptly when asked, and never
lets a failed poll end the run: a failed poll is recorded as a gap (None),
because silence must never read as health.
"""

import logging
import math
import threading

from harness.config import SLO, Estate
from harness.errors import StackError
from harness.experiment.expect_schema import MeasuredExpectations
from harness.experiment.measured import (
    amplification_series,
    breaker_points,
    breaker_selector,
    degradation_series,
)
from harness.observe.prometheus import PrometheusAPI
from harness.observe.rules import sli_exprs
from harness.report.journal import Journal

log = logging.getLogger(__name__)


class _Poller:
    def __init__(self, interval_s: float, name: str):
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                log.warning("poll failed in %s", self._thread.name, exc_info=True)
            self._stop.wait(self.interval_s)

    def poll(self) -> None:
        raise NotImplementedError


# What tells two alerts apart in the journal: a burn-rate alert has a page and
# a ticket rule of one name, and an objective per journey of one service.
_ALERT_KEY = ("alertname", "service", "severity", "slo")


class AlertStateWatcher(_Poller):
    """Records each alert's pending, firing and inactive transitions."""

    def __init__(self, api: PrometheusAPI, journal: Journal, interval_s: float = 0.25):
        super().__init__(interval_s, "alert-state-watcher")
        self.api = api
        self.journal = journal
        self._states: dict[tuple, str] = {}

    def poll(self) -> None:
        seen = {}
        for alert in self.api.alerts():
            labels = alert.get("labels", {})
            key = tuple(labels.get(name, "") for name in _ALERT_KEY)
            seen[key] = alert.get("state")
        for key, state in seen.items():
            if self._states.get(key) != state:
                self.journal.record(
                    f"alert_{state}", **dict(zip(_ALERT_KEY, key, strict=True))
                )
        for key in set(self._states) - set(seen):
            self.journal.record(
                "alert_inactive", **dict(zip(_ALERT_KEY, key, strict=True))
            )
        self._states = seen


def _named(key: tuple) -> dict[str, str]:
    return dict(zip(_ALERT_KEY, key, strict=True))


class SLOWatcher(_Poller):
    """Samples each service's SLIs and whether its SLO holds right now."""

    def __init__(
        self, api: PrometheusAPI, journal: Journal, estate: Estate, services: list[str]
    ):
        super().__init__(estate.observability.scrape_interval_s, "slo-watcher")
        self.api = api
        self.journal = journal
        self.slos = [estate.slos[name] for name in services]
        self.queries = {name: _queries(sli_exprs(estate, name)) for name in services}

    def poll(self) -> None:
        for slo in self.slos:
            at_s = self.journal.now_s()
            values = {}
            for name, expr in self.queries[slo.service].items():
                try:
                    values[name] = self.api.scalar(expr)
                except StackError:
                    values[name] = None
                self.journal.sample(f"{slo.service}:{name}", values[name], at_s)
            self.journal.sample(f"slo_ok:{slo.service}", slo_holds(slo, values), at_s)


def _queries(sli: dict[str, str]) -> dict[str, str]:
    return {
        "request_rate": sli["request_rate"],
        "error_ratio": f"{sli['errors']} / {sli['total']}",
        "slow_ratio": f"{sli['slow']} / {sli['count']}",
    }


def slo_holds(slo: SLO, values: dict[str, float | None]) -> float | None:
    """1.0 when the SLO holds, 0.0 when it is burning, None when there is no data."""
    rate, errors, slow = (
        values.get(key) for key in ("request_rate", "error_ratio", "slow_ratio")
    )
    if any(v is None or not math.isfinite(v) for v in (rate, errors, slow)):
        return None
    if rate <= 0:
        return None
    ok = errors <= 1 - slo.availability_objective and slow <= 1 - slo.latency_objective
    return 1.0 if ok else 0.0


class MeasuredSeriesWatcher(_Poller):
    """Samples the counters and breaker states measured expectations judge."""

    def __init__(
        self,
        api: PrometheusAPI,
        journal: Journal,
        measured: MeasuredExpectations,
        interval_s: float,
    ):
        super().__init__(interval_s, "measured-series-watcher")
        self.api = api
        self.journal = journal
        self.queries: dict[str, str] = {}
        for bound in measured.amplification:
            self.queries.update(amplification_series(bound))
        for degradation in measured.degraded_gracefully:
            self.queries.update(degradation_series(degradation))
        self.breakers = {b.edge: breaker_selector(b) for b in measured.breakers}

    def poll(self) -> None:
        for name, expr in self.queries.items():
            at_s = self.journal.now_s()
            try:
                value = self.api.scalar(expr)
            except StackError:
                value = None
            self.journal.sample(name, value, at_s)
        for edge, selector in self.breakers.items():
            at_s = self.journal.now_s()
            try:
                points = breaker_points(self.api.query(selector))
            except StackError:
                points = {"state": None, "attempts": None, "refused": None}
            for key, value in points.items():
                self.journal.sample(f"breaker:{edge}:{key}", value, at_s)
