"""The JSON config one mock process is started with, read and checked whole.

Example (every field is required; "seed" may be left out for an external stub,
and a dependency's "resilience" may be left out or hold only some fields: what
it leaves out is no retry, no breaker and no concurrency limit, see
mocks/core/resilience/policy.py):

    {"service": "claims-api", "host": "127.0.0.1", "port": 18001,
     "data_dir": "/abs/run/data", "log_dir": "/abs/run/logs",
     "admin_token": "secret", "latency_buckets_s": [0.005, 0.01, 0.8, 5.0],
     "dependencies": {"policy-api": {"url": "http://127.0.0.1:19001",
                                     "timeout_s": 1.0,
                                     "resilience": {"retry": {"max_attempts": 2}}}},
     "seed": {"random_seed": 20261204, "customers": 2000},
     "version": "1.0.0"}
"""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mocks.core.resilience.policy import PolicyError, ResiliencePolicy, parse_policy
from mocks.errors import ConfigError

_TOP_FIELDS = (
    "service",
    "host",
    "port",
    "data_dir",
    "log_dir",
    "admin_token",
    "latency_buckets_s",
    "dependencies",
    "seed",
    "version",
)
_OPTIONAL_FIELDS = frozenset({"seed"})
_MAX_SEEDED_CUSTOMERS = 1_000_000


@dataclass(frozen=True)
class DependencyConfig:
    """Where one dependency is reached (a fault-proxy route) and how long to wait."""

    name: str
    url: str
    timeout_s: float
    resilience: ResiliencePolicy = ResiliencePolicy()
    # A second instance of the dependency to fail over to, when one is declared.
    secondary_url: str | None = None


@dataclass(frozen=True)
class SeedConfig:
    """The seeded data set: CUST-n owns POL-n for 1 <= n <= customers."""

    random_seed: int
    customers: int


@dataclass(frozen=True)
class ServiceConfig:
    """Everything one mock process needs to serve."""

    service: str
    host: str
    port: int
    data_dir: Path
    log_dir: Path
    admin_token: str
    latency_buckets_s: tuple[float, ...]
    dependencies: Mapping[str, DependencyConfig]
    seed: SeedConfig | None
    version: str


class _Reader:
    """Reads typed fields out of one JSON object, naming the file in every error."""

    def __init__(self, source: str, raw: object, path: str = ""):
        self.source = source
        self.path = path
        if not isinstance(raw, dict):
            raise self.error(path or "(top level)", raw, "a JSON object")
        self.raw = raw

    def error(self, field: str, value: object, accepted: str) -> ConfigError:
        return ConfigError(
            f"{self.source}: field {field!r} has value {value!r}; accepted: {accepted}"
        )

    def name(self, field: str) -> str:
        return f"{self.path}.{field}" if self.path else field

    def check_fields(
        self, allowed: tuple[str, ...], optional: frozenset[str] = frozenset()
    ) -> None:
        for field in self.raw:
            if field not in allowed:
                raise ConfigError(
                    f"{self.source}: field {self.name(field)!r} has value "
                    f"{self.raw[field]!r}, but there is no such field; "
                    f"accepted fields: {', '.join(allowed)}"
                )
        for field in allowed:
            if field not in self.raw and field not in optional:
                raise ConfigError(
                    f"{self.source}: field {self.name(field)!r} is missing; "
                    f"it is required"
                )

    def string(self, field: str) -> str:
        value = self.raw[field]
        if not isinstance(value, str) or not value.strip():
            raise self.error(self.name(field), value, "a non-empty string")
        return value

    def integer(self, field: str, low: int, high: int) -> int:
        value = self.raw[field]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(self.name(field), value, f"an integer {low}..{high}")
        if not low <= value <= high:
            raise self.error(self.name(field), value, f"an integer {low}..{high}")
        return value

    def seconds(self, field: str) -> float:
        value = self.raw[field]
        if not _is_positive_number(value):
            raise self.error(self.name(field), value, "a number of seconds > 0")
        return float(value)

    def absolute_path(self, field: str) -> Path:
        value = self.string(field)
        if not Path(value).is_absolute():
            raise self.error(self.name(field), value, "an absolute path")
        return Path(value)


def _is_positive_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value > 0


def load_config(path: Path) -> ServiceConfig:
    """Read and check the config file at path; raise ConfigError naming the field."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    return parse_config(raw, source=str(path))


def parse_config(raw: object, source: str = "config") -> ServiceConfig:
    """Check a decoded config object; raise ConfigError naming the field."""
    reader = _Reader(source, raw)
    reader.check_fields(_TOP_FIELDS, _OPTIONAL_FIELDS)
    seed = _seed(reader) if "seed" in reader.raw else None
    return ServiceConfig(
        service=reader.string("service"),
        host=reader.string("host"),
        port=reader.integer("port", 1, 65535),
        data_dir=reader.absolute_path("data_dir"),
        log_dir=reader.absolute_path("log_dir"),
        admin_token=reader.string("admin_token"),
        latency_buckets_s=_buckets(reader),
        dependencies=_dependencies(reader),
        seed=seed,
        version=reader.string("version"),
    )


def _buckets(reader: _Reader) -> tuple[float, ...]:
    value = reader.raw["latency_buckets_s"]
    accepted = "a non-empty list of increasing numbers of seconds > 0"
    if not isinstance(value, list) or not value:
        raise reader.error("latency_buckets_s", value, accepted)
    for index, edge in enumerate(value):
        if not _is_positive_number(edge):
            raise reader.error(f"latency_buckets_s[{index}]", edge, accepted)
    if any(low >= high for low, high in zip(value, value[1:], strict=False)):
        raise reader.error("latency_buckets_s", value, accepted)
    return tuple(float(edge) for edge in value)


def _dependencies(reader: _Reader) -> dict[str, DependencyConfig]:
    table = _Reader(reader.source, reader.raw["dependencies"], "dependencies")
    return {
        name: _dependency(reader.source, name, entry)
        for name, entry in table.raw.items()
    }


def _dependency(source: str, name: str, raw: object) -> DependencyConfig:
    entry = _Reader(source, raw, f"dependencies.{name}")
    entry.check_fields(
        ("url", "timeout_s", "resilience", "secondary_url"),
        frozenset({"resilience", "secondary_url"}),
    )
    url = _url(entry, "url")
    secondary = _url(entry, "secondary_url") if "secondary_url" in entry.raw else None
    timeout_s = entry.seconds("timeout_s")
    return DependencyConfig(
        name=name,
        url=url,
        timeout_s=timeout_s,
        resilience=_resilience(entry, timeout_s),
        secondary_url=secondary,
    )


def _url(entry: "_Reader", field: str) -> str:
    url = entry.string(field)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise entry.error(entry.name(field), url, "an http:// or https:// URL")
    return url.rstrip("/")


def _resilience(entry: _Reader, timeout_s: float) -> ResiliencePolicy:
    raw = entry.raw.get("resilience", {})
    field = entry.name("resilience")
    if isinstance(raw, dict) and "timeout_s" in raw:
        raise entry.error(
            f"{field}.timeout_s",
            raw["timeout_s"],
            f"no such field; set {entry.name('timeout_s')}",
        )
    try:
        return parse_policy(raw, ResiliencePolicy(timeout_s=timeout_s), field)
    except PolicyError as exc:
        raise entry.error(exc.field, exc.value, exc.accepted) from exc


def _seed(reader: _Reader) -> SeedConfig:
    seed = _Reader(reader.source, reader.raw["seed"], "seed")
    seed.check_fields(("random_seed", "customers"))
    return SeedConfig(
        random_seed=seed.integer("random_seed", -(2**63), 2**63 - 1),
        customers=seed.integer("customers", 1, _MAX_SEEDED_CUSTOMERS),
    )
