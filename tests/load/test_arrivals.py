"""The arrival schedule, checked without Locust."""

import itertools
import random
import statistics

import pytest

from harness.load.arrivals import arrival_offsets, count_due, seeded_offsets


def first(count: int, offsets) -> list[float]:
    return list(itertools.islice(offsets, count))


def test_uniform_arrivals_are_evenly_spaced() -> None:
    offsets = first(1001, arrival_offsets("uniform", 4.0, random.Random(0)))

    assert offsets[:3] == [0.0, 0.25, 0.5]
    assert offsets[1000] == pytest.approx(250.0, abs=1e-9)


def test_poisson_arrivals_have_the_offered_mean_rate() -> None:
    arrivals = 20_000
    offsets = first(arrivals, seeded_offsets("poisson", 5.0, seed=7))

    # The count of a Poisson process has standard deviation sqrt(n); allow 4.
    expected_s = arrivals / 5.0
    assert abs(offsets[-1] - expected_s) < 4 * arrivals**0.5 / 5.0


def test_poisson_gaps_vary_like_an_exponential() -> None:
    offsets = first(20_000, seeded_offsets("poisson", 5.0, seed=7))
    gaps = [later - earlier for earlier, later in itertools.pairwise(offsets)]

    # An exponential's standard deviation equals its mean; even spacing has 0.
    variation = statistics.stdev(gaps) / statistics.mean(gaps)
    assert variation == pytest.approx(1.0, abs=0.05)


def test_same_seed_gives_same_schedule() -> None:
    assert first(50, seeded_offsets("poisson", 3.0, seed=1)) == first(
        50, seeded_offsets("poisson", 3.0, seed=1)
    )
    assert first(50, seeded_offsets("poisson", 3.0, seed=1)) != first(
        50, seeded_offsets("poisson", 3.0, seed=2)
    )


def test_count_due_counts_offsets_up_to_the_elapsed_time() -> None:
    assert count_due(arrival_offsets("uniform", 2.0, random.Random(0)), 3.0) == 7


def test_unknown_process_is_refused() -> None:
    with pytest.raises(ValueError, match="'bursty'.*poisson, uniform"):
        arrival_offsets("bursty", 1.0, random.Random(0))
