"""A run's impact: failed requests, journeys affected and error budget spent.

The budget of each SLO is measured in Prometheus over the run, with the same
bad- and total-event expressions the burn-rate rules use:

    allowed_bad     = (1 - target) * total
    consumed_ratio  = bad / allowed_bad
    period_fraction = consumed_ratio * wall_s * compression_factor / period_s

consumed_ratio 1.0 means the run spent exactly the budget its own traffic
allowed. Experiments run the production windows divided by the compression
factor, so wall_s seconds of a run stand for wall_s * compression_factor
seconds of production time; period_fraction is the share of the whole
time_window_days budget such a stretch of production time would spend, at the
run's traffic. It is the burn-rate arithmetic of BurnWindow.budget_spent, with
the run as the window.
"""

import math
from collections.abc import Iterable
from typing import Any

from harness.config import Estate
from harness.observe.prometheus import PrometheusAPI
from harness.slo.rules import bad_events_query, total_events_query
from harness.slo.spec import Objective

# Counts are Prometheus estimates (increase() extrapolates to the window's
# edges), so more digits would only suggest a precision they do not have.
DIGITS = 3


def budget_entry(
    objective: Objective,
    bad: float,
    total: float,
    window: tuple[float, float],
    compression_factor: float,
    period_s: float,
) -> dict[str, Any]:
    """One SLO's error budget spent over window (from_s, to_s) of a run."""
    bad = max(0.0, bad)
    total = max(bad, total)
    allowed_bad = objective.error_budget * total
    consumed = bad / allowed_bad if allowed_bad > 0 else None
    from_s, to_s = window
    wall_s = max(0.0, to_s - from_s)
    fraction = None
    # The run's error ratio is taken to last wall_s * compression_factor of
    # production time; a real budget period is a rolling window with traffic
    # of its own, which this ignores.
    if consumed is not None:
        fraction = consumed * wall_s * compression_factor / period_s
    return {
        "slo": objective.name,
        "service": objective.service,
        "sli": objective.sli,
        "target": objective.target,
        "good": round(total - bad, DIGITS),
        "bad": round(bad, DIGITS),
        "total": round(total, DIGITS),
        "allowed_bad": round(allowed_bad, DIGITS),
        "consumed_ratio": _rounded(consumed, 4),
        "period_fraction": _rounded(fraction, 6),
        "window": {"from_s": round(from_s, DIGITS), "to_s": round(to_s, DIGITS)},
    }


def measure_budget(
    api: PrometheusAPI,
    estate: Estate,
    watched: Iterable[str],
    window: tuple[float, float],
) -> list[dict[str, Any]]:
    """Each SLO's budget over window: every SLO of the watched services, and
    the SLOs of other services that saw bad events."""
    watched = set(watched)
    from_s, to_s = window
    # A whole number of seconds, at least one: what a range selector takes.
    range_s = max(1, math.ceil(to_s - from_s))
    specs = estate.slo_specs
    entries = []
    for objective in specs.objectives:
        bad = api.scalar(bad_events_query(objective, f"{range_s}s")) or 0.0
        if objective.service not in watched and bad <= 0:
            continue
        total = api.scalar(total_events_query(objective, f"{range_s}s")) or 0.0
        entries.append(
            budget_entry(
                objective,
                bad,
                total,
                window,
                estate.observability.compression_factor,
                specs.policy.period_s,
            )
        )
    return entries


def impact_of(
    load: dict | None,
    budget: list[dict] | None,
    budget_error: str | None = None,
) -> dict[str, Any] | None:
    """The journal's "impact": what the load saw and the budget each SLO spent."""
    if load is None and budget is None and budget_error is None:
        return None
    load = load or {}
    journeys = {
        name: {key: counts.get(key, 0) for key in ("started", "completed", "failed")}
        for name, counts in (load.get("by_journey") or {}).items()
    }
    impact = {
        "requests": int(load.get("requests") or 0),
        "failed_requests": int(load.get("failures") or 0),
        "journeys": journeys,
        "journeys_affected": sorted(n for n, c in journeys.items() if c["failed"] > 0),
        "budget": budget if budget is not None else [],
    }
    if budget_error is not None:
        impact["budget_error"] = budget_error
    return impact


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
