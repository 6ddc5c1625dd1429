"""The faults a mock can inject into itself: small typed values, checked whole.

Each kind names its fields with their units and bounds; parse_fault() turns a
JSON object into one of them or raises Rejected naming the field, the value
and what is accepted. Every fault is bounded: it ends after duration_s (or,
for a crash, it ends the process), so a forgotten fault never runs forever.
"""

import math
from dataclasses import dataclass, fields
from enum import StrEnum

from mocks.errors import Rejected

MAX_DURATION_S = 3600
MAX_CPU_BURN_S = 300
MAX_DELAY_MS = 60_000
MAX_BLOCK_MS = 10_000
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class FaultKind(StrEnum):
    """What a fault does; the value is the "kind" field of the admin API."""

    ERROR = "error"  # answer an HTTP error instead of the handler
    SLOW = "slow"  # delay the handler
    BAD_DEPLOY = "bad_deploy"  # a new version label with more errors or latency
    CRASH = "crash"  # the process exits right after answering
    POOL_EXHAUSTION = "pool_exhaustion"  # calls to a dependency find no connection
    LOOP_BLOCK = "loop_block"  # the event loop is blocked, all requests wait
    CONCURRENCY_CAP = "concurrency_cap"  # at most N requests served at once
    CPU_BURN = "cpu_burn"  # threads spin and starve the event loop


@dataclass(frozen=True)
class RequestMatch:
    """Which requests a fault acts on; an empty field matches every request."""

    path_prefix: str = ""
    method: str = ""
    header_name: str = ""
    header_value: str = ""

    def matches(self, path: str, method: str, headers) -> bool:
        if not path.startswith(self.path_prefix):
            return False
        if self.method and method != self.method:
            return False
        if self.header_name:
            value = headers.get(self.header_name)
            if value is None:
                return False
            return not self.header_value or value == self.header_value
        return True


@dataclass(frozen=True)
class ErrorFault:
    status_code: int
    rate: float
    match: RequestMatch
    first_n: int | None
    duration_s: float
    kind = FaultKind.ERROR


@dataclass(frozen=True)
class SlowFault:
    delay_ms: float
    jitter_ms: float
    rate: float
    match: RequestMatch
    duration_s: float
    kind = FaultKind.SLOW


@dataclass(frozen=True)
class BadDeployFault:
    version: str
    error_rate: float
    status_code: int
    delay_ms: float
    duration_s: float
    kind = FaultKind.BAD_DEPLOY


@dataclass(frozen=True)
class CrashFault:
    exit_code: int
    after_ms: float
    kind = FaultKind.CRASH


@dataclass(frozen=True)
class PoolExhaustionFault:
    dependency: str
    duration_s: float
    kind = FaultKind.POOL_EXHAUSTION


@dataclass(frozen=True)
class LoopBlockFault:
    block_ms: float
    interval_ms: float
    duration_s: float
    kind = FaultKind.LOOP_BLOCK


@dataclass(frozen=True)
class ConcurrencyCapFault:
    max_in_flight: int
    duration_s: float
    kind = FaultKind.CONCURRENCY_CAP


@dataclass(frozen=True)
class CpuBurnFault:
    threads: int
    duration_s: float
    kind = FaultKind.CPU_BURN


Fault = (
    ErrorFault
    | SlowFault
    | BadDeployFault
    | CrashFault
    | PoolExhaustionFault
    | LoopBlockFault
    | ConcurrencyCapFault
    | CpuBurnFault
)


def describe(fault: Fault) -> dict:
    """The fault's fields as the admin API shows them, match fields inlined."""
    shown: dict = {"kind": fault.kind.value}
    for spec in fields(fault):
        value = getattr(fault, spec.name)
        if isinstance(value, RequestMatch):
            shown.update({f.name: getattr(value, f.name) for f in fields(value)})
        else:
            shown[spec.name] = value
    return shown


class _Body:
    """Reads typed fields of one fault's JSON body; every refusal names the field."""

    def __init__(self, raw: dict, kind: FaultKind, allowed: tuple[str, ...]):
        self.raw = raw
        for name in raw:
            if name != "kind" and name not in allowed:
                raise Rejected(
                    name,
                    raw[name],
                    f"no such field of {kind}; fields: {', '.join(allowed)}",
                )

    def number(self, name: str, low: float, high: float, default=None) -> float:
        return self._number(name, low, high, default, f"a number {low}..{high}")

    def positive(self, name: str, high: float, default=None) -> float:
        value = self._number(name, 0, high, default, f"a number > 0 and <= {high}")
        if value == 0:
            raise Rejected(name, value, f"a number > 0 and <= {high}")
        return value

    def _number(self, name, low, high, default, accepted: str) -> float:
        value = self.raw.get(name, default)
        if value is None:
            raise Rejected(name, value, f"required: {accepted}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Rejected(name, value, accepted)
        if not math.isfinite(value) or not low <= value <= high:
            raise Rejected(name, value, accepted)
        return float(value)

    def integer(self, name: str, low: int, high: int, default=None) -> int:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise Rejected(name, value, f"an integer {low}..{high}")
        if not low <= value <= high:
            raise Rejected(name, value, f"an integer {low}..{high}")
        return value

    def text(self, name: str, default: str = "", max_length: int = 200) -> str:
        value = self.raw.get(name, default)
        if not isinstance(value, str) or len(value) > max_length:
            raise Rejected(name, value, f"a string of at most {max_length} characters")
        return value

    def match(self) -> RequestMatch:
        prefix = self.text("path_prefix")
        if prefix and not prefix.startswith("/"):
            raise Rejected("path_prefix", prefix, "a path starting with '/', or ''")
        if any(prefix.startswith(kept) for kept in EXEMPT_PREFIXES):
            raise Rejected(
                "path_prefix",
                prefix,
                f"a service path; {', '.join(EXEMPT_PREFIXES)} are never faulted",
            )
        method = self.text("method").upper()
        if method and method not in _METHODS:
            raise Rejected(
                "method", self.raw["method"], f"one of {', '.join(_METHODS)}, or ''"
            )
        header_name = self.text("header_name").lower()
        header_value = self.text("header_value")
        if header_value and not header_name:
            raise Rejected("header_value", header_value, "only with header_name")
        return RequestMatch(prefix, method, header_name, header_value)


# Paths a fault never touches, so it can always be seen and removed.
EXEMPT_PREFIXES = ("/admin", "/metrics", "/healthz")

_MATCH_FIELDS = ("path_prefix", "method", "header_name", "header_value")
_ALLOWED = {
    FaultKind.ERROR: ("status_code", "rate", "first_n", "duration_s", *_MATCH_FIELDS),
    FaultKind.SLOW: ("delay_ms", "jitter_ms", "rate", "duration_s", *_MATCH_FIELDS),
    FaultKind.BAD_DEPLOY: (
        "version",
        "error_rate",
        "status_code",
        "delay_ms",
        "duration_s",
    ),
    FaultKind.CRASH: ("exit_code", "after_ms"),
    FaultKind.POOL_EXHAUSTION: ("dependency", "duration_s"),
    FaultKind.LOOP_BLOCK: ("block_ms", "interval_ms", "duration_s"),
    FaultKind.CONCURRENCY_CAP: ("max_in_flight", "duration_s"),
    FaultKind.CPU_BURN: ("threads", "duration_s"),
}


def parse_fault(raw: object, dependencies: tuple[str, ...]) -> Fault:
    """One fault from a decoded JSON body; Rejected names what is wrong."""
    if not isinstance(raw, dict):
        raise Rejected("body", raw, 'a JSON object like {"kind": "error", ...}')
    kinds = ", ".join(kind.value for kind in FaultKind)
    try:
        kind = FaultKind(raw.get("kind"))
    except ValueError:
        raise Rejected("kind", raw.get("kind"), f"one of {kinds}") from None
    body = _Body(raw, kind, _ALLOWED[kind])
    return _PARSERS[kind](body, dependencies)


def _duration(body: _Body, high: float = MAX_DURATION_S) -> float:
    return body.positive("duration_s", high, default=300.0 if high >= 300 else high)


def _error(body: _Body, dependencies) -> ErrorFault:
    first_n = None
    if body.raw.get("first_n") is not None:
        first_n = body.integer("first_n", 1, 1_000_000)
    rate = body.positive("rate", 1.0, default=1.0)
    if first_n is not None and rate != 1.0:
        raise Rejected("rate", rate, "1 when first_n is given: the first N all fail")
    return ErrorFault(
        status_code=body.integer("status_code", 400, 599, default=503),
        rate=rate,
        match=body.match(),
        first_n=first_n,
        duration_s=_duration(body),
    )


def _slow(body: _Body, dependencies) -> SlowFault:
    return SlowFault(
        delay_ms=body.positive("delay_ms", MAX_DELAY_MS),
        jitter_ms=body.number("jitter_ms", 0, MAX_DELAY_MS, default=0),
        rate=body.positive("rate", 1.0, default=1.0),
        match=body.match(),
        duration_s=_duration(body),
    )


def _bad_deploy(body: _Body, dependencies) -> BadDeployFault:
    version = body.text("version", max_length=64)
    if not version.strip():
        raise Rejected("version", body.raw.get("version"), "a non-empty version label")
    fault = BadDeployFault(
        version=version,
        error_rate=body.number("error_rate", 0, 1.0, default=0),
        status_code=body.integer("status_code", 500, 599, default=500),
        delay_ms=body.number("delay_ms", 0, MAX_DELAY_MS, default=0),
        duration_s=_duration(body),
    )
    if fault.error_rate == 0 and fault.delay_ms == 0:
        raise Rejected(
            "error_rate", 0, "error_rate > 0 or delay_ms > 0: a bad deploy must hurt"
        )
    return fault


def _crash(body: _Body, dependencies) -> CrashFault:
    return CrashFault(
        exit_code=body.integer("exit_code", 1, 255, default=1),
        after_ms=body.number("after_ms", 0, MAX_DELAY_MS, default=0),
    )


def _pool_exhaustion(body: _Body, dependencies) -> PoolExhaustionFault:
    dependency = body.raw.get("dependency")
    if dependency not in dependencies:
        known = ", ".join(dependencies) or "(this service calls no dependency)"
        raise Rejected("dependency", dependency, f"one of {known}")
    return PoolExhaustionFault(dependency=dependency, duration_s=_duration(body))


def _loop_block(body: _Body, dependencies) -> LoopBlockFault:
    block_ms = body.positive("block_ms", MAX_BLOCK_MS)
    interval_ms = body.number("interval_ms", 0, MAX_DURATION_S * 1000, default=0)
    if interval_ms and interval_ms <= block_ms:
        raise Rejected(
            "interval_ms",
            interval_ms,
            f"0 (block once) or more than block_ms={block_ms}",
        )
    return LoopBlockFault(block_ms, interval_ms, _duration(body))


def _concurrency_cap(body: _Body, dependencies) -> ConcurrencyCapFault:
    return ConcurrencyCapFault(
        max_in_flight=body.integer("max_in_flight", 1, 10_000),
        duration_s=_duration(body),
    )


def _cpu_burn(body: _Body, dependencies) -> CpuBurnFault:
    return CpuBurnFault(
        threads=body.integer("threads", 1, 4, default=1),
        duration_s=_duration(body, MAX_CPU_BURN_S),
    )


_PARSERS = {
    FaultKind.ERROR: _error,
    FaultKind.SLOW: _slow,
    FaultKind.BAD_DEPLOY: _bad_deploy,
    FaultKind.CRASH: _crash,
    FaultKind.POOL_EXHAUSTION: _pool_exhaustion,
    FaultKind.LOOP_BLOCK: _loop_block,
    FaultKind.CONCURRENCY_CAP: _concurrency_cap,
    FaultKind.CPU_BURN: _cpu_burn,
}
