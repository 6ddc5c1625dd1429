"""Judging the measured expectations from the series a run recorded.

The series are sampled from Prometheus once per scrape interval while the
run goes on (watch.MeasuredSeriesWatcher); judging them is pure, so every
way an expectation can fail is testable without a process. Counter series
are judged by their increase between two samples: the first sample at least
one lag after the first injection (when the fault shows in the metrics) and
the last sample before the last rollback.
"""

from collections.abc import Callable
from dataclasses import dataclass

from harness.experiment.expect_schema import (
    Amplification,
    BreakerTrials,
    Degradation,
    MeasuredExpectations,
    SLOState,
)

Samples = list[tuple[float, float | None]]
Add = Callable[[bool, str, str, str], None]
Measure = Callable[[str, str, object], None]

# Breaker states as numbers, so a state is one point of a series.
BREAKER_STATES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


def amplification_series(bound: Amplification) -> dict[str, str]:
    """Series name -> PromQL, for one edge's attempts and its caller's requests."""
    edge = f'service="{bound.caller}",dependency="{bound.callee}"'
    return {
        f"amplification:{bound.edge}:attempts": (
            f'sum(dependency_requests_total{{{edge},outcome=~"ok|error|timeout"}})'
        ),
        f"amplification:{bound.edge}:requests": (
            f'sum(http_requests_total{{service="{bound.caller}"}})'
        ),
    }


def degradation_series(degradation: Degradation) -> dict[str, str]:
    selector = f'service="{degradation.service}"'
    if degradation.route is not None:
        selector += f',route="{degradation.route}"'
    key = _degradation_key(degradation)
    return {
        f"degraded:{key}:answered": f"sum(http_requests_total{{{selector}}})",
        f"degraded:{key}:ok": f'sum(http_requests_total{{{selector},code!~"5.."}})',
    }


def breaker_selector(breaker: BreakerTrials) -> str:
    """One query for the state and the counters, so all come from one scrape."""
    names = (
        "dependency_circuit_state|dependency_requests_total"
        "|dependency_bulkhead_rejections_total"
    )
    return (
        f'{{__name__=~"{names}",service="{breaker.caller}",'
        f'dependency="{breaker.callee}"}}'
    )


def breaker_points(samples: list[tuple[dict, float]]) -> dict[str, float | None]:
    """The breaker's state, attempts made and calls it refused, from one query."""
    state = None
    attempts = rejected = bulkhead = 0.0
    for labels, value in samples:
        name = labels.get("__name__")
        if name == "dependency_circuit_state" and value == 1:
            state = BREAKER_STATES.get(labels.get("state"))
        elif name == "dependency_requests_total":
            if labels.get("outcome") in ("ok", "error", "timeout"):
                attempts += value
            elif labels.get("outcome") == "rejected":
                rejected += value
        elif name == "dependency_bulkhead_rejections_total":
            bulkhead += value
    if state is None:
        return {"state": None, "attempts": None, "refused": None}
    return {"state": state, "attempts": attempts, "refused": rejected - bulkhead}


def _degradation_key(degradation: Degradation) -> str:
    return degradation.service + (degradation.route or "")


@dataclass(frozen=True)
class Window:
    """Where the faults were live, and how late the metrics show them."""

    injected_s: float
    rolled_back_s: float
    lag_s: float
    mitigated_s: float | None = None


def judge_measured(
    expected: MeasuredExpectations,
    series: dict[str, Samples],
    window: Window,
    add: Add,
    measure: Measure,
) -> None:
    """Add one check per measured expectation (integrity is judged later)."""
    for slo in expected.slos:
        _check_slo_state(slo, series.get(f"slo_ok:{slo.service}", []), window, add)
    for bound in expected.amplification:
        _check_amplification(bound, series, window, add, measure)
    for breaker in expected.breakers:
        _check_breaker(breaker, series, window, add, measure)
    for degradation in expected.degraded_gracefully:
        _check_degradation(degradation, series, window, add, measure)


def _check_slo_state(slo: SLOState, samples: Samples, window: Window, add) -> None:
    after = [(t, ok) for t, ok in samples if t >= window.injected_s]
    if slo.state == "held":
        _check_held(slo, after, window, add)
    else:
        _check_recovered(slo, after, window, add)


def _check_held(slo: SLOState, after: Samples, window: Window, add) -> None:
    expectation = f"SLO {slo.service} held"
    predicted = "held in every sample from the first injection to the end"
    burning = [t for t, ok in after if ok == 0]
    dark = [t for t, ok in after if ok is None]
    if not after:
        add(False, expectation, predicted, "no sample was taken after the injection")
        return
    if not burning and not dark:
        add(True, expectation, predicted, f"held in all {len(after)} samples")
        return
    first = min(burning + dark) - window.injected_s
    add(
        False,
        expectation,
        predicted,
        f"{len(burning)} of {len(after)} samples burning and {len(dark)} without "
        f"data (no traffic is not health), the first {first:.1f} s after injection",
    )


def _check_recovered(slo: SLOState, after: Samples, window: Window, add) -> None:
    expectation = f"SLO {slo.service} breached and recovered"
    reference = "mitigation" if window.mitigated_s is not None else "the last rollback"
    start_s = window.rolled_back_s
    if window.mitigated_s is not None:
        start_s = window.mitigated_s
    predicted = (
        f"a breach, then back within {slo.within_s:g} s of {reference} and held "
        f"{slo.hold_s:g} s"
    )
    breach = next((t for t, ok in after if not ok), None)
    if breach is None:
        add(
            False,
            expectation,
            predicted,
            "it never breached and always had data: the faults had no visible "
            "effect on it",
        )
        return
    # Back means back for good: the hold starts after the last bad sample,
    # which may come before the reference when a runbook mitigated the fault.
    last_bad = max(t for t, ok in after if not ok)
    back_s = _first_hold(after, last_bad, slo.hold_s, strictly_after=True)
    if back_s is None:
        add(
            False,
            expectation,
            predicted,
            f"breached {breach - window.injected_s:.1f} s after injection, last "
            f"{last_bad - window.injected_s:.1f} s after, and never held "
            f"{slo.hold_s:g} s with data after that",
        )
        return
    took_s = max(0.0, back_s - start_s)
    add(
        took_s <= slo.within_s,
        expectation,
        predicted,
        f"breached {breach - window.injected_s:.1f} s after injection; back "
        f"{took_s:.1f} s after {reference}",
    )


def held_since(samples: Samples, slo: SLOState) -> bool:
    """Whether the latest samples held the SLO, with data, for hold_s."""
    good_from = None
    for t_s, ok in samples:
        good_from = (good_from if good_from is not None else t_s) if ok else None
    return good_from is not None and samples[-1][0] - good_from >= slo.hold_s


def _first_hold(
    samples: Samples, after_s: float, hold_s: float, strictly_after: bool = False
) -> float | None:
    run_start = None
    for t_s, ok in samples:
        if t_s < after_s or (strictly_after and t_s == after_s):
            continue
        if not ok:
            run_start = None
            continue
        run_start = t_s if run_start is None else run_start
        if t_s - run_start >= hold_s:
            return run_start
    return None


def increase(samples: Samples, window: Window) -> tuple[float | None, str]:
    """A counter's increase over the fault window, or None and why not."""
    points = [(t, v) for t, v in samples if v is not None]
    start = next(
        ((t, v) for t, v in points if t >= window.injected_s + window.lag_s), None
    )
    end = next(((t, v) for t, v in reversed(points) if t <= window.rolled_back_s), None)
    if start is None or end is None or end[0] <= start[0]:
        return None, (
            "no two samples with data between "
            f"{window.lag_s:g} s after injection and the last rollback"
        )
    if end[1] < start[1]:
        return None, (
            "the counter went backwards: the process restarted in the window, "
            "so its calls cannot be counted"
        )
    return end[1] - start[1], ""


def _check_amplification(bound, series, window, add, measure) -> None:
    names = list(amplification_series(bound))
    attempts, why = increase(series.get(names[0], []), window)
    requests, why_requests = increase(series.get(names[1], []), window)
    expectation = f"amplification on {bound.edge} bounded"
    predicted = (
        f"at most {bound.max_ratio:g} attempts at {bound.callee} per request "
        f"{bound.caller} answered, while the faults were live"
    )
    if attempts is None or requests is None:
        add(False, expectation, predicted, why or why_requests)
        return
    if requests == 0:
        add(False, expectation, predicted, f"{bound.caller} answered no request")
        return
    ratio = round(attempts / requests, 3)
    measure("amplification", bound.edge, ratio)
    add(
        ratio <= bound.max_ratio,
        expectation,
        predicted,
        f"{ratio:g} ({attempts:g} attempts for {requests:g} requests)",
    )


def _check_degradation(degradation, series, window, add, measure) -> None:
    names = list(degradation_series(degradation))
    answered, why = increase(series.get(names[0], []), window)
    ok, why_ok = increase(series.get(names[1], []), window)
    where = degradation.service + (f" {degradation.route}" if degradation.route else "")
    expectation = f"{where} degrades gracefully"
    predicted = (
        f"at least {degradation.min_success_ratio:.1%} of answers not 5xx "
        "while the faults were live"
    )
    if answered is None or ok is None:
        add(False, expectation, predicted, why or why_ok)
        return
    if answered == 0:
        add(False, expectation, predicted, "it answered no request: nothing to judge")
        return
    ratio = round(ok / answered, 4)
    measure("success_ratio", where, ratio)
    add(
        ratio >= degradation.min_success_ratio,
        expectation,
        predicted,
        f"{ratio:.1%} ({ok:g} of {answered:g} answers not 5xx)",
    )


def _check_breaker(breaker, series, window, add, measure) -> None:
    states = series.get(f"breaker:{breaker.edge}:state", [])
    attempts = dict(series.get(f"breaker:{breaker.edge}:attempts", []))
    refused, _ = increase(
        series.get(f"breaker:{breaker.edge}:refused", []),
        Window(window.injected_s, window.rolled_back_s + window.lag_s, 0.0),
    )
    live = [
        (t, s)
        for t, s in states
        if window.injected_s <= t <= window.rolled_back_s + window.lag_s
    ]
    opened = bool(refused) or any(s == BREAKER_STATES["open"] for _, s in live)
    add(
        opened,
        f"breaker on {breaker.edge} opens",
        "it opens while the faults are live",
        f"it refused {refused or 0:g} calls"
        + ("" if opened else " and was never seen open"),
    )
    if opened:
        _check_trials(breaker, live, attempts, add, measure)


def _check_trials(breaker, live, attempts, add, measure) -> None:
    """Attempts between two samples in which the breaker was not closed are
    trials: an open breaker lets none through, a half-open one only trials."""
    closed = BREAKER_STATES["closed"]
    trials = [
        attempts[b] - attempts[a]
        for (a, state_a), (b, state_b) in zip(live, live[1:], strict=False)
        if state_a not in (None, closed)
        and state_b not in (None, closed)
        and attempts.get(a) is not None
        and attempts.get(b) is not None
    ]
    expectation = f"breaker on {breaker.edge} half-opens without a thundering herd"
    predicted = (
        f"at most {breaker.max_trial_calls} calls reach {breaker.callee} per half-open"
    )
    probes = [n for n in trials if n > 0]
    if not probes:
        add(
            False,
            expectation,
            predicted,
            "no half-open probe was seen between two samples of an open breaker",
        )
        return
    worst = max(probes)
    measure("breaker_trial_calls", breaker.edge, worst)
    add(
        worst <= breaker.max_trial_calls,
        expectation,
        predicted,
        f"at most {worst:g} calls in one scrape interval while not closed "
        f"({len(probes)} probing intervals)",
    )
