"""The `load:` part of an experiment file: which journeys, at what load.

    load:
      arrival_rate_per_s: 4          # open model: journeys started per second
      journeys: [file_a_claim, view_policy]

    load:
      users: 20                      # closed model: users, each journey after journey
      think_time_s: 1.5
      journeys: {file_a_claim: 3, register_a_customer: 1}

`journey: file_a_claim` stands for `journeys: [file_a_claim]`. A list weighs
every journey the same; a mapping gives each its relative weight.
`percentiles: [50, 95, 99, 99.9]` (the default) are the response-time
percentiles reported, estimated from the run's histograms.
"""

from dataclasses import dataclass
from typing import Any

from harness.fields import Fields
from harness.load.latency import DEFAULT_PERCENTILES, MAX_PERCENTILES
from harness.load.settings import (
    CLOSED_MODEL,
    JOURNEY_TARGETS,
    MAX_ARRIVAL_RATE_PER_S,
    MAX_THINK_TIME_S,
    MAX_USERS,
    MAX_WEIGHT,
    OPEN_MODEL,
)

LOAD_FIELDS = (
    "journey",
    "journeys",
    "arrival_rate_per_s",
    "users",
    "think_time_s",
    "percentiles",
)


@dataclass(frozen=True)
class LoadSpec:
    """The load an experiment offers, as its file gives it."""

    journeys: tuple[tuple[str, float], ...]  # name, weight; in the file's order
    arrival_rate_per_s: float | None = None
    users: int | None = None
    think_time_s: float = 0.0
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES

    @property
    def model(self) -> str:
        return CLOSED_MODEL if self.users is not None else OPEN_MODEL

    @property
    def journey_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.journeys)

    def settings_fields(self) -> dict[str, Any]:
        """The fields of LoadSettings this spec decides."""
        return {
            "journeys": dict(self.journeys),
            "arrival_rate_per_s": self.arrival_rate_per_s,
            "users": self.users,
            "think_time_s": self.think_time_s,
            "percentiles": self.percentiles,
        }


def parse_load(entry: Fields) -> LoadSpec:
    """Read and check the `load:` mapping of an experiment file."""
    entry.require_known(LOAD_FIELDS)
    journeys = _journeys(entry)
    percentiles = _percentiles(entry)
    _require_one_of(entry, ("arrival_rate_per_s", "users"), _ONE_MODEL)
    if "arrival_rate_per_s" in entry.data:
        return LoadSpec(
            journeys, arrival_rate_per_s=_arrival_rate(entry), percentiles=percentiles
        )
    return LoadSpec(
        journeys,
        percentiles=percentiles,
        users=entry.get(
            "users",
            int,
            check=lambda v: 1 <= v <= MAX_USERS,
            accepted=f"a whole number of users from 1 to {MAX_USERS}",
        ),
        think_time_s=entry.number("think_time_s", 0.0, maximum=MAX_THINK_TIME_S),
    )


_ONE_MODEL = (
    "exactly one of arrival_rate_per_s (open model: journeys started per second) "
    "or users (closed model: users running journeys back to back)"
)
_ONE_MIX = (
    "exactly one of journey (one name) or journeys (a list of names, or a "
    "mapping of name to weight); journeys: " + ", ".join(sorted(JOURNEY_TARGETS))
)


def _require_one_of(entry: Fields, keys: tuple[str, str], accepted: str) -> None:
    given = {key: entry.data[key] for key in keys if key in entry.data}
    if len(given) == 2:
        entry.fail(entry.here + (keys[1],), given, accepted)
    if not given:
        # Reading a missing field without a default reports it as missing.
        entry.get(keys[0], object, accepted=accepted)


_PERCENTILES = (
    f"a list of 1 to {MAX_PERCENTILES} percentiles, each above 0 and below 100, "
    "such as [50, 95, 99, 99.9]"
)


def _percentiles(entry: Fields) -> tuple[float, ...]:
    if "percentiles" not in entry.data:
        return DEFAULT_PERCENTILES
    where = entry.here + ("percentiles",)
    value = entry.data["percentiles"]
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PERCENTILES:
        entry.fail(where, value, _PERCENTILES)
    for index, p in enumerate(value):
        number = isinstance(p, int | float) and not isinstance(p, bool)
        if not number or not 0 < p < 100:
            entry.fail(
                where + (index,), p, "a percentile above 0 and below 100, such as 99.9"
            )
        if p in value[:index]:
            entry.fail(where + (index,), p, "each percentile once")
    return tuple(sorted(value))


def _arrival_rate(entry: Fields) -> float:
    if "think_time_s" in entry.data:
        entry.fail(
            entry.here + ("think_time_s",),
            entry.data["think_time_s"],
            "no think_time_s with arrival_rate_per_s: open-model journeys start "
            "on schedule; give users instead for a closed model",
        )
    return entry.get(
        "arrival_rate_per_s",
        (int, float),
        check=lambda v: 0 < v <= MAX_ARRIVAL_RATE_PER_S,
        accepted="a number of journeys per second, above 0 and at most "
        f"{MAX_ARRIVAL_RATE_PER_S:g}",
    )


def _journeys(entry: Fields) -> tuple[tuple[str, float], ...]:
    known = sorted(JOURNEY_TARGETS)
    _require_one_of(entry, ("journeys", "journey"), _ONE_MIX)
    if "journey" in entry.data:
        return ((entry.choice("journey", known), 1.0),)
    value = entry.data["journeys"]
    if isinstance(value, list):
        return _journey_list(entry, value, known)
    if isinstance(value, dict) and value:
        return tuple(
            _weighted(entry, name, weight, known) for name, weight in value.items()
        )
    entry.fail(
        entry.here + ("journeys",),
        value,
        f"a non-empty list of journeys or a mapping of journey to weight; "
        f"journeys: {', '.join(known)}",
    )
    raise AssertionError("unreachable")  # Fields.fail always raises


def _journey_list(
    entry: Fields, names: list, known: list[str]
) -> tuple[tuple[str, float], ...]:
    if not names:
        entry.fail(
            entry.here + ("journeys",), names, f"at least one of: {', '.join(known)}"
        )
    for index, name in enumerate(names):
        if name not in known:
            entry.fail(
                entry.here + ("journeys", index), name, f"one of: {', '.join(known)}"
            )
        if name in names[:index]:
            entry.fail(
                entry.here + ("journeys", index),
                name,
                "each journey once (give a mapping of journey to weight to run "
                "one more often)",
            )
    return tuple((name, 1.0) for name in names)


def _weighted(
    entry: Fields, name: Any, weight: Any, known: list[str]
) -> tuple[str, float]:
    where = entry.here + ("journeys", name)
    if name not in known:
        entry.fail(where, name, f"a journey name, one of: {', '.join(known)}")
    plain = isinstance(weight, int | float) and not isinstance(weight, bool)
    if not plain or not 0 < weight <= MAX_WEIGHT:
        entry.fail(
            where,
            weight,
            f"a relative weight above 0 and at most {MAX_WEIGHT:g}, such as 1 or 2.5",
        )
    return name, float(weight)
