"""When journeys start: an open-model arrival schedule at a fixed rate.

Start times never depend on how long earlier journeys took. A closed model (a
fixed pool of users, each waiting for its last journey before starting the
next) throttles itself when the system slows down, so the slowness it should
reveal lowers the offered load instead of showing up as latency and failures.
"""

import itertools
import random
from collections.abc import Iterator

POISSON = "poisson"
UNIFORM = "uniform"
ARRIVAL_PROCESSES = (POISSON, UNIFORM)


def arrival_offsets(
    process: str, rate_per_s: float, rng: random.Random
) -> Iterator[float]:
    """Yield journey start times, in seconds after the schedule's origin, forever."""
    if process == POISSON:
        return _poisson_offsets(rate_per_s, rng)
    if process == UNIFORM:
        return _uniform_offsets(rate_per_s)
    raise ValueError(
        f"arrival process {process!r} is unknown; expected one of: "
        f"{', '.join(ARRIVAL_PROCESSES)}"
    )


def seeded_offsets(process: str, rate_per_s: float, seed: int) -> Iterator[float]:
    """The schedule of a run with this seed; the same seed gives the same times."""
    return arrival_offsets(process, rate_per_s, random.Random(f"arrivals:{seed}"))


def _poisson_offsets(rate_per_s: float, rng: random.Random) -> Iterator[float]:
    # Independent customers give exponentially distributed gaps; the bursts
    # this makes are part of the realism an even spacing would hide.
    offset_s = 0.0
    while True:
        offset_s += rng.expovariate(rate_per_s)
        yield offset_s


def _uniform_offsets(rate_per_s: float) -> Iterator[float]:
    # Multiplying instead of adding keeps float error from drifting the rate.
    for index in itertools.count():
        yield index / rate_per_s


def count_due(offsets: Iterator[float], elapsed_s: float) -> int:
    """Consume offsets up to elapsed_s and return how many there were."""
    due = 0
    for offset_s in offsets:
        if offset_s > elapsed_s:
            return due
        due += 1
    return due
