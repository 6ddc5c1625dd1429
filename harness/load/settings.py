"""Settings of one load run, checked whole before any process starts.

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

CONFIG_ENV_VAR = "HARNESS_LOAD_CONFIG"
# Next to Locust's CSVs: one JSON line {"kind": ..., "id": ...} per record a
# service answered as created, for the integrity checks after the run.
ACCEPTED_RECORDS_SUFFIX = "_accepted.jsonl"

# Each journey and the services it calls, in the order it calls them.
JOURNEY_TARGETS: dict[str, tuple[str, ...]] = {
    "file_a_claim": ("customer-api", "policy-api", "claims-api"),
    "pay_a_premium": ("policy-api", "payment-api"),
}


@dataclass(frozen=True)
class LoadSettings:
    """What load to offer, and where to send it."""

    targets: Mapping[str, str]
    journey: str = "file_a_claim"
    arrival_rate_per_s: float = 4.0
    customers: int = 2000
    random_seed: int = 1
    request_timeout_s: float = 2.0
    max_in_flight: int = 200
    arrival_process: str = POISSON
    where: str = field(default="load settings", compare=False, repr=False)

    def __post_init__(self) -> None:
        self._check_journey()
        self._check_targets()
        self._check_numbers()
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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("where")
        data["targets"] = dict(self.targets)
        return data

    def write(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

    def _check_journey(self) -> None:
        if self.journey not in JOURNEY_TARGETS:
            self._fail("journey", self.journey, f"one of: {', '.join(JOURNEY_TARGETS)}")

    def _check_targets(self) -> None:
        if not isinstance(self.targets, Mapping):
            self._fail("targets", self.targets, "a mapping of service name to base URL")
        for service in JOURNEY_TARGETS[self.journey]:
            if service not in self.targets:
                self._fail(
                    f"targets.{service}",
                    None,
                    f"the base URL of {service} (journey {self.journey!r} calls "
                    f"{', '.join(JOURNEY_TARGETS[self.journey])}), "
                    "e.g. 'http://127.0.0.1:8001'",
                )
            if not _is_base_url(self.targets[service]):
                self._fail(
                    f"targets.{service}",
                    self.targets[service],
                    "an http:// or https:// URL with a host and no path, "
                    "e.g. 'http://127.0.0.1:8001'",
                )

    def _check_numbers(self) -> None:
        self._require_number("arrival_rate_per_s", "a number > 0 (journeys per second)")
        self._require_number("request_timeout_s", "a number of seconds > 0")
        self._require_count("customers", "an integer >= 1 (seeded customers)")
        self._require_count("max_in_flight", "an integer >= 1 (concurrent journeys)")
        if not _is_int(self.random_seed):
            self._fail("random_seed", self.random_seed, "an integer")

    def _require_number(self, name: str, accepted: str) -> None:
        value = getattr(self, name)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value <= 0:
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


def _is_base_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    no_path = parts.path in ("", "/") and not parts.query and not parts.fragment
    return parts.scheme in ("http", "https") and bool(parts.hostname) and no_path
