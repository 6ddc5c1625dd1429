"""Settings of one load run, checked whole before any process starts.

A run is either an open model (journeys start at arrival_rate_per_s, however
long earlier ones take) or a closed model (users each run journeys back to
back, pausing think_time_s between them), never both. Each journey is picked
from a weighted mix.

The same JSON file is written by the runner and read by the locustfile inside
the Locust process, which finds it through the HARNESS_LOAD_CONFIG variable.
"""

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import ConfigError
from harness.load.arrivals import ARRIVAL_PROCESSES, POISSON
from harness.load.latency import DEFAULT_PERCENTILES, percentiles_problem

CONFIG_ENV_VAR = "HARNESS_LOAD_CONFIG"
# Next to Locust's CSVs: one JSON line {"kind": ..., "id": ...} per record a
# service answered as created, for the integrity checks after the run.
ACCEPTED_RECORDS_SUFFIX = "_accepted.jsonl"
# Next to Locust's CSVs: the run's response-time histograms (see latency.py).
LATENCY_SUFFIX = "_latency.json"

OPEN_MODEL = "open"
CLOSED_MODEL = "closed"
# Bounds that keep one Locust process (one core) able to offer what is asked.
MAX_ARRIVAL_RATE_PER_S = 200.0
MAX_USERS = 200
MAX_THINK_TIME_S = 60.0
MAX_WEIGHT = 1000.0

# Each journey and the services it calls, in the order it calls them.
JOURNEY_TARGETS: dict[str, tuple[str, ...]] = {
    "file_a_claim": ("customer-api", "policy-api", "claims-api"),
    "pay_a_premium": ("policy-api", "payment-api"),
    "register_a_customer": ("customer-api",),
    "view_policy": ("policy-api",),
    "buy_a_policy": ("policy-api",),
}


@dataclass(frozen=True)
class LoadSettings:
    """What load to offer, and where to send it."""

    targets: Mapping[str, str]
    # Journey name -> relative weight; a journey is drawn from it each time.
    journeys: Mapping[str, float] = field(default_factory=lambda: {"file_a_claim": 1})
    arrival_rate_per_s: float | None = None  # open model
    users: int | None = None  # closed model
    think_time_s: float = 0.0  # closed model: pause after each journey
    customers: int = 2000
    random_seed: int = 1
    request_timeout_s: float = 2.0
    max_in_flight: int = 200
    arrival_process: str = POISSON
    # Reported from the run's histograms; the locustfile does not use them.
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    where: str = field(default="load settings", compare=False, repr=False)

    def __post_init__(self) -> None:
        self._check_journeys()
        self._check_targets()
        self._check_model()
        self._check_numbers()
        self._check_percentiles()
        if self.arrival_process not in ARRIVAL_PROCESSES:
            self._fail(
                "arrival_process",
                self.arrival_process,
                f"one of: {', '.join(ARRIVAL_PROCESSES)}",
            )

    @classmethod
    def from_dict(cls, data: Any, where: str = "load settings") -> "LoadSettings":
        """Build settings from parsed JSON, refusing unknown fields (likely typos)."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {data!r}")
        accepted = sorted(_FIELD_NAMES)
        for key in data:
            if key not in _FIELD_NAMES:
                raise ConfigError(
                    f"{where}: unknown field {key!r}; accepted fields: "
                    f"{', '.join(accepted)}"
                )
        if "targets" not in data:
            raise ConfigError(
                f"{where}: field 'targets' is missing; expected a mapping of "
                "service name to base URL"
            )
        return cls(**data, where=where)

    @classmethod
    def load(cls, path: Path) -> "LoadSettings":
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read load settings: {exc}") from exc
        return cls.from_dict(data, where=str(path))

    @property
    def model(self) -> str:
        """OPEN_MODEL when journeys arrive at a rate, CLOSED_MODEL with users."""
        return CLOSED_MODEL if self.users is not None else OPEN_MODEL

    @property
    def journey_names(self) -> tuple[str, ...]:
        return tuple(self.journeys)

    @property
    def journey_weights(self) -> tuple[float, ...]:
        return tuple(self.journeys.values())

    def services(self) -> tuple[str, ...]:
        """Every service some journey of the mix calls, in first-call order."""
        called = [s for name in self.journeys for s in JOURNEY_TARGETS[name]]
        return tuple(dict.fromkeys(called))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("where")
        data["targets"] = dict(self.targets)
        data["journeys"] = dict(self.journeys)
        data["percentiles"] = list(self.percentiles)
        return data

    def write(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

    def _check_journeys(self) -> None:
        known = f"one of: {', '.join(JOURNEY_TARGETS)}"
        if not isinstance(self.journeys, Mapping) or not self.journeys:
            self._fail(
                "journeys", self.journeys, f"a mapping of journey ({known}) to weight"
            )
        for name, weight in self.journeys.items():
            if name not in JOURNEY_TARGETS:
                self._fail("journeys", name, known)
            if not _is_number(weight) or not 0 < weight <= MAX_WEIGHT:
                self._fail(
                    f"journeys.{name}",
                    weight,
                    f"a weight above 0 and at most {MAX_WEIGHT:g}",
                )

    def _check_targets(self) -> None:
        if not isinstance(self.targets, Mapping):
            self._fail("targets", self.targets, "a mapping of service name to base URL")
        for service in self.services():
            if service not in self.targets:
                callers = [n for n in self.journeys if service in JOURNEY_TARGETS[n]]
                self._fail(
                    f"targets.{service}",
                    None,
                    f"the base URL of {service} (journey {callers[0]!r} calls "
                    f"{', '.join(JOURNEY_TARGETS[callers[0]])}), "
                    "e.g. 'http://127.0.0.1:8001'",
                )
            if not _is_base_url(self.targets[service]):
                self._fail(
                    f"targets.{service}",
                    self.targets[service],
                    "an http:// or https:// URL with a host and no path, "
                    "e.g. 'http://127.0.0.1:8001'",
                )

    def _check_model(self) -> None:
        open_model = self.arrival_rate_per_s is not None
        if open_model == (self.users is not None):
            shown = (
                None
                if not open_model
                else {
                    "arrival_rate_per_s": self.arrival_rate_per_s,
                    "users": self.users,
                }
            )
            self._fail(
                "arrival_rate_per_s / users",
                shown,
                "exactly one: arrival_rate_per_s (open model) or users (closed model)",
            )
        if open_model:
            self._require_number(
                "arrival_rate_per_s",
                f"a number > 0 and at most {MAX_ARRIVAL_RATE_PER_S:g} "
                "(journeys per second)",
                MAX_ARRIVAL_RATE_PER_S,
            )
            if self.think_time_s != 0:
                self._fail(
                    "think_time_s",
                    self.think_time_s,
                    "0 with arrival_rate_per_s: an open model has no think time",
                )
            return
        if not _is_int(self.users) or not 1 <= self.users <= MAX_USERS:
            self._fail("users", self.users, f"an integer from 1 to {MAX_USERS}")
        think = self.think_time_s
        if not _is_number(think) or not 0 <= think <= MAX_THINK_TIME_S:
            self._fail(
                "think_time_s",
                think,
                f"a number of seconds from 0 to {MAX_THINK_TIME_S:g}",
            )

    def _check_numbers(self) -> None:
        self._require_number("request_timeout_s", "a number of seconds > 0")
        self._require_count("customers", "an integer >= 1 (seeded customers)")
        self._require_count("max_in_flight", "an integer >= 1 (concurrent journeys)")
        if not _is_int(self.random_seed):
            self._fail("random_seed", self.random_seed, "an integer")

    def _check_percentiles(self) -> None:
        problem = percentiles_problem(self.percentiles)
        if problem:
            self._fail("percentiles", self.percentiles, problem)
        # JSON gives a list; the frozen settings keep a tuple.
        object.__setattr__(self, "percentiles", tuple(self.percentiles))

    def _require_number(
        self, name: str, accepted: str, maximum: float = math.inf
    ) -> None:
        value = getattr(self, name)
        if not _is_number(value) or not 0 < value <= maximum:
            self._fail(name, value, accepted)

    def _require_count(self, name: str, accepted: str) -> None:
        value = getattr(self, name)
        if not _is_int(value) or value < 1:
            self._fail(name, value, accepted)

    def _fail(self, name: str, value: Any, accepted: str) -> None:
        shown = "missing" if value is None else f"{value!r}"
        raise ConfigError(
            f"{self.where}: field '{name}' is {shown}; expected {accepted}"
        )


_FIELD_NAMES = frozenset(LoadSettings.__dataclass_fields__) - {"where"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    plain = isinstance(value, int | float) and not isinstance(value, bool)
    return plain and math.isfinite(value)


def _is_base_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    no_path = parts.path in ("", "/") and not parts.query and not parts.fragment
    return parts.scheme in ("http", "https") and bool(parts.hostname) and no_path
