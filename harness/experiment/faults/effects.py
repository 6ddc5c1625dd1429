"""Seeing a fault in Prometheus: a query that returns a sample once it shows.

The deadline comes from the monitoring config: the target must be scraped
after the fault is applied (one interval, plus the scrape's own timeout of
one interval), and the rule evaluated, with slack for a busy machine.
"""

import logging
import math
import time
from dataclasses import dataclass

from harness.config import Observability
from harness.errors import HarnessError
from harness.observe.prometheus import PrometheusAPI

log = logging.getLogger(__name__)

# Room for a loaded machine: a scrape or query that runs late.
SLACK_S = 5.0


def effect_deadline_s(observability: Observability) -> float:
    return (
        2 * observability.scrape_interval_s
        + observability.evaluation_interval_s
        + SLACK_S
    )


@dataclass(frozen=True)
class Effect:
    query: str
    seen_after_s: float | None  # None: echo only, nothing scrapes it
    job: str


class EffectProbe:
    """Polls a query until it returns a sample, or its deadline passes."""

    def __init__(self, prometheus: PrometheusAPI, deadline_s: float):
        self.prometheus = prometheus
        self.deadline_s = deadline_s

    def wait(self, expr: str, job: str) -> Effect | None:
        """The effect once seen; None if the deadline passed first.

        When Prometheus scrapes no target of that job (a real Toxiproxy has
        no /metrics), the proxy's echo is all there is: an Effect with
        seen_after_s None.
        """
        if not self._scraped(job):
            log.info("nothing scrapes job %s; the fault is checked by echo", job)
            return Effect(expr, None, job)
        window = f"{math.ceil(self.deadline_s) + 1}s"
        query = expr.replace("{window}", window)
        start = time.monotonic()
        while True:
            try:
                if self.prometheus.query(query):
                    return Effect(query, time.monotonic() - start, job)
            except HarnessError as exc:
                log.warning("effect query %s failed: %s", query, exc)
            if time.monotonic() - start > self.deadline_s:
                return None
            time.sleep(0.25)

    def _scraped(self, job: str) -> bool:
        return bool(self.prometheus.query(f'up{{job="{job}"}}'))
