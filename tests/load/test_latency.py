"""Percentiles estimated from the load's histograms, against exact ones."""

import json
import math
import random

import pytest

from harness.load.latency import (
    BUCKET_GROWTH,
    CONNECTION_ERROR,
    TIMEOUT,
    LatencyHistogram,
    RequestLatencies,
    percentile_label,
    percentiles_problem,
    resolution_note,
)

WANTED = (1, 10, 25, 50, 75, 90, 95, 99, 99.9)


def exact_percentile(samples: list[float], p: float) -> float:
    """The nearest-rank percentile: the smallest sample with p% at or below it."""
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def assert_within_a_bucket(samples: list[float]) -> None:
    histogram = LatencyHistogram.of(samples)

    for p in WANTED:
        exact = exact_percentile(samples, p)
        estimate = histogram.percentile(p)
        # One bucket's relative width is the promised resolution.
        assert estimate == pytest.approx(exact, rel=BUCKET_GROWTH - 1), p


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_of_log_normal_times_are_within_a_bucket(seed: int) -> None:
    rng = random.Random(seed)
    # Response times: a body around 20 ms with a long tail into seconds.
    samples = [rng.lognormvariate(math.log(20), 1.0) for _ in range(20_000)]

    assert_within_a_bucket(samples)


def test_percentiles_of_a_bimodal_run_are_within_a_bucket() -> None:
    rng = random.Random(7)
    fast = [rng.uniform(2, 6) for _ in range(9_000)]
    timed_out = [rng.uniform(2000, 2050) for _ in range(1_000)]

    assert_within_a_bucket(fast + timed_out)

    histogram = LatencyHistogram.of(fast + timed_out)
    assert histogram.percentile(50) < 6.2
    assert histogram.percentile(95) > 1950


def test_a_coarser_histogram_misses_what_the_fine_one_keeps() -> None:
    # The comparison can fail: 50%-wide buckets are not within 2%.
    rng = random.Random(5)
    samples = [rng.uniform(100, 140) for _ in range(5_000)]
    coarse = LatencyHistogram.of(samples, growth=1.5)
    exact = exact_percentile(samples, 50)

    assert coarse.percentile(50) != pytest.approx(exact, rel=BUCKET_GROWTH - 1)
    assert LatencyHistogram.of(samples).percentile(50) == pytest.approx(
        exact, rel=BUCKET_GROWTH - 1
    )


def test_one_sample_is_every_percentile_exactly() -> None:
    histogram = LatencyHistogram.of([123.456])

    assert histogram.percentiles([50, 99.9]) == {"p50": 123.456, "p99.9": 123.456}


def test_estimates_stay_within_the_smallest_and_largest_sample() -> None:
    histogram = LatencyHistogram.of([10.0, 10.05, 10.1])

    assert 10.0 <= histogram.percentile(50) <= 10.1
    assert (histogram.percentile(1), histogram.percentile(99.9)) == (10.0, 10.1)


def test_no_samples_give_no_percentiles() -> None:
    assert LatencyHistogram().percentiles([50, 99]) == {"p50": None, "p99": None}


def test_sub_resolution_and_zero_times_are_kept() -> None:
    histogram = LatencyHistogram.of([0.0, 0.001, 0.0, 5.0])

    assert histogram.count == 4
    assert histogram.percentile(50) <= 0.01
    assert histogram.percentile(99) == 5.0


def test_a_histogram_survives_json() -> None:
    rng = random.Random(3)
    histogram = LatencyHistogram.of(rng.expovariate(0.01) for _ in range(1000))

    again = LatencyHistogram.from_dict(json.loads(json.dumps(histogram.as_dict())))

    assert again.percentiles(WANTED) == histogram.percentiles(WANTED)
    assert (again.count, again.min_ms, again.max_ms) == (
        histogram.count,
        histogram.min_ms,
        histogram.max_ms,
    )


def test_a_histogram_whose_count_disagrees_is_refused() -> None:
    data = LatencyHistogram.of([1.0, 2.0]).as_dict()
    data["count"] = 3

    with pytest.raises(ValueError, match="buckets hold 2 samples; its count says 3"):
        LatencyHistogram.from_dict(data)


def test_failed_requests_are_in_all_but_not_in_success() -> None:
    latencies = RequestLatencies()
    for _ in range(90):
        latencies.add(10.0, succeeded=True)
    for _ in range(6):
        latencies.add(500.0, succeeded=False, failure_kind=TIMEOUT)
    for _ in range(3):
        latencies.add(1.0, succeeded=False, failure_kind=CONNECTION_ERROR)
    latencies.add(20.0, succeeded=False)  # an HTTP 500: neither kind

    assert (latencies.all.count, latencies.success.count) == (100, 90)
    assert (latencies.timeouts, latencies.connection_errors) == (6, 3)
    assert latencies.success.percentile(99) == 10.0
    assert latencies.all.percentile(99) == 500.0
    again = RequestLatencies.from_dict(json.loads(json.dumps(latencies.as_dict())))
    assert (again.timeouts, again.connection_errors, again.all.count) == (6, 3, 100)


@pytest.mark.parametrize(
    ("p", "label"), [(50, "p50"), (99.0, "p99"), (99.9, "p99.9"), (99.999, "p99.999")]
)
def test_labels_keep_every_digit_given(p: float, label: str) -> None:
    assert percentile_label(p) == label


def test_good_percentiles_have_no_problem() -> None:
    assert percentiles_problem([50, 95, 99, 99.9]) is None
    assert percentiles_problem((0.1, 99.99)) is None


def test_the_note_states_the_bucket_resolution() -> None:
    assert resolution_note() == (
        "estimates from histogram buckets 2% wide (log-spaced): each is within "
        "about 1% of the exact percentile of the samples"
    )


def test_the_note_says_which_percentiles_are_only_the_largest_sample():
    from harness.load.latency import resolution_note

    few = resolution_note(samples=876, percentiles=(50, 99, 99.9, 99.99))
    many = resolution_note(samples=100_000, percentiles=(50, 99, 99.9, 99.99))

    assert "with 876 samples, p99.9, p99.99 are only the largest sample" in few
    assert "largest sample" not in many
