"""The achieved rate against the offered one, and the flag when it fell short."""

from dataclasses import replace
from pathlib import Path

import pytest

from harness.load.latency import CONNECTION_ERROR, TIMEOUT, RequestLatencies
from harness.load.results import (
    JourneyCounts,
    JourneyOutcomes,
    LoadResult,
    RequestStats,
    check_rate,
)

T0 = 1_800_000_000  # a whole Unix second: the load's first


def counts(
    model: str = "open",
    offered: float | None = 10.0,
    started: int = 300,
    elapsed_s: float = 30.0,
    per_second: dict[int, int] | None = None,
) -> JourneyCounts:
    return JourneyCounts(
        model=model,
        journeys={"file_a_claim": 1.0},
        arrival_process="poisson" if model == "open" else None,
        offered_rate_per_s=offered,
        users=None if model == "open" else 5,
        think_time_s=0.0,
        max_in_flight=200,
        arrivals_due=started,
        started=started,
        dropped=0,
        completed=started,
        failed=0,
        elapsed_s=elapsed_s,
        in_flight_peak=3,
        schedule_lag_max_ms=2.0,
        stopped_cleanly=True,
        started_per_second=tuple(sorted((per_second or {}).items())),
        by_journey={"file_a_claim": JourneyOutcomes(started, started, 0)},
    )


def closed_counts(steady_per_s: int, fault_per_s: int) -> JourneyCounts:
    """20 s of steady state, 10 s of fault from T0 + 20, 5 s after it."""
    per_second = {T0 + s: steady_per_s for s in range(20)}
    per_second |= {T0 + 20 + s: fault_per_s for s in range(10)}
    per_second |= {T0 + 30 + s: steady_per_s for s in range(5)}
    return counts(
        "closed",
        offered=None,
        started=sum(per_second.values()),
        elapsed_s=35.0,
        per_second=per_second,
    )


def test_an_open_run_that_kept_its_rate_is_not_flagged() -> None:
    rate = check_rate(counts(offered=10.0, started=290, elapsed_s=30.0), None)

    assert rate.achieved_ratio == pytest.approx(290 / 300)
    assert not rate.under_offered
    assert "UNDER" not in rate.note


def test_an_open_run_under_80_percent_of_its_offered_rate_is_flagged() -> None:
    rate = check_rate(counts(offered=10.0, started=230, elapsed_s=30.0), None)

    assert rate.offered_per_s == 10.0
    assert rate.achieved_per_s == pytest.approx(230 / 30)
    assert rate.achieved_ratio == pytest.approx(0.767, abs=0.001)
    assert rate.under_offered
    assert "UNDER 80% of the offered rate" in rate.note


def test_the_open_flag_sits_at_exactly_80_percent() -> None:
    assert not check_rate(counts(started=240, elapsed_s=30.0), None).under_offered
    assert check_rate(counts(started=239, elapsed_s=30.0), None).under_offered


def test_a_closed_run_that_slowed_in_the_fault_window_is_flagged() -> None:
    # The fault went in half-way through second 20 and out at second 30.5.
    rate = check_rate(closed_counts(10, 4), (T0 + 19.5, T0 + 30.5))

    assert rate.offered_per_s is None
    # Whole seconds only: 1..18 steady, 20..29 in the fault.
    assert rate.steady_achieved_per_s == 10
    assert rate.fault_window_achieved_per_s == 4
    assert rate.achieved_ratio == pytest.approx(0.4)
    assert rate.under_offered
    assert "hide slowness" in rate.note
    assert "UNDER 80% of the steady state" in rate.note


def test_a_closed_run_that_held_its_rate_is_not_flagged() -> None:
    rate = check_rate(closed_counts(10, 9), (T0 + 20.0, T0 + 30.0))

    assert rate.achieved_ratio == pytest.approx(0.9)
    assert not rate.under_offered
    assert "hide slowness" in rate.note


def test_a_closed_run_whose_fault_answered_faster_is_not_flagged() -> None:
    # Refused connections fail fast: users start journeys more often.
    rate = check_rate(closed_counts(10, 30), (T0 + 20.0, T0 + 30.0))

    assert rate.achieved_ratio == pytest.approx(3.0)
    assert not rate.under_offered


def test_a_closed_run_with_no_fault_window_has_no_ratio() -> None:
    rate = check_rate(closed_counts(10, 4), None)

    assert rate.achieved_ratio is None
    assert not rate.under_offered
    assert rate.achieved_per_s == pytest.approx(closed_counts(10, 4).started / 35)


def test_seconds_with_no_journey_started_count_as_none_achieved() -> None:
    # A blackhole: users wait and start nothing for whole seconds.
    journeys = closed_counts(10, 0)
    journeys = replace(
        journeys,
        started_per_second=tuple(p for p in journeys.started_per_second if p[1]),
    )

    rate = check_rate(journeys, (T0 + 20.0, T0 + 30.0))

    assert rate.fault_window_achieved_per_s == 0
    assert rate.under_offered


def test_a_fault_window_shorter_than_a_whole_second_has_no_ratio() -> None:
    rate = check_rate(closed_counts(10, 4), (T0 + 20.2, T0 + 20.9))

    assert rate.achieved_ratio is None
    assert not rate.under_offered


def stats(name: str = "Aggregated") -> RequestStats:
    return RequestStats("", name, 100, 5, 12.0, 40.0, 90.0, 15.0, 120.0, 3.3)


def load_result(journeys: JourneyCounts) -> LoadResult:
    latencies = RequestLatencies()
    for value_ms in range(1, 96):
        latencies.add(float(value_ms), succeeded=True)
    for _ in range(3):
        latencies.add(500.0, succeeded=False, failure_kind=TIMEOUT)
    for _ in range(2):
        latencies.add(1.0, succeeded=False, failure_kind=CONNECTION_ERROR)
    return LoadResult(
        requests={"GET /x": stats("GET /x")},
        aggregated=stats(),
        failures=(),
        exceptions=(),
        journeys=journeys,
        history=(),
        exit_code=1,
        stats_are_final=True,
        out_dir=Path("/nonexistent"),
        latencies=latencies,
    )


EXISTING_KEYS = {
    "requests",
    "failures",
    "failure_ratio",
    "median_ms_estimate",
    "p95_ms_estimate",
    "p99_ms_estimate",
    "model",
    "users",
    "offered_journeys_per_s",
    "achieved_journey_starts_per_s",
    "achieved_journeys_per_s",
    "journeys_completed",
    "journeys_failed",
    "by_journey",
    "journeys_dropped",
    "journeys_interrupted",
    "stats_are_final",
    "by_request",
    "failure_kinds",
}


def test_the_journal_load_keeps_every_key_and_adds_the_contract_ones() -> None:
    data = load_result(counts(offered=10.0, started=150, elapsed_s=30.0)).as_dict()

    assert EXISTING_KEYS <= set(data)
    assert data["percentiles"] == [50, 95, 99, 99.9]
    assert set(data["latency_ms"]) == {"all", "success"}
    assert set(data["latency_ms"]["all"]) == {"p50", "p95", "p99", "p99.9"}
    # 95 successes of 1..95 ms; the 5 failures are the slowest and fastest.
    assert data["latency_ms"]["success"]["p50"] == pytest.approx(48, rel=0.02)
    assert data["latency_ms"]["all"]["p99"] == 500.0
    assert data["latency_note"].startswith("estimates from histogram buckets 2%")
    assert (data["timeouts"], data["connection_errors"]) == (3, 2)
    assert data["offered_per_s"] == 10.0
    assert data["achieved_per_s"] == 5.0
    assert data["achieved_ratio"] == 0.5
    assert data["under_offered"] is True


def test_a_closed_result_told_its_fault_window_flags_from_it() -> None:
    result = load_result(closed_counts(10, 4))

    before = result.as_dict()
    after = result.with_fault_window(T0 + 20.0, T0 + 30.0).as_dict()

    assert before["offered_per_s"] is None
    assert before["under_offered"] is False
    assert after["achieved_ratio"] == 0.4
    assert after["under_offered"] is True
    assert after["steady_achieved_per_s"] == 10
    assert after["fault_window_achieved_per_s"] == 4


def test_the_run_tells_the_result_its_fault_window_from_the_journal(
    tmp_path: Path,
) -> None:
    from datetime import datetime

    from harness.experiment.runner import _with_fault_window
    from harness.report.journal import Journal

    journal = Journal(tmp_path, "run")
    journal.record("load_started")
    result = load_result(closed_counts(10, 4))
    assert _with_fault_window(result, journal).fault_window_unix is None

    injected = journal.record("fault_injected", fault="a", effect_seen_after_s=2.5)
    journal.record("fault_injected", fault="b")
    journal.record("fault_rolled_back", fault="a")
    rolled_back = journal.record("fault_rolled_back", fault="b")
    journal.record("load_stopped")

    window = _with_fault_window(result, journal).fault_window_unix
    assert window == (
        # The fault acted from before its effect was seen.
        datetime.fromisoformat(injected.wall).timestamp() - 2.5,
        datetime.fromisoformat(rolled_back.wall).timestamp(),
    )
    assert _with_fault_window(None, journal) is None
    journal.close()
