"""Resilience policies of one dependency edge, read from plain JSON-like values.

One parser serves the config file and the admin API: both hand it a mapping
and get back a ResiliencePolicy or a PolicyError naming the field, the value
and what is accepted. A missing field keeps the value of the policy it updates,
so the defaults below (no retries, no breaker, no concurrency limit) are the
behaviour of a config that says nothing about resilience.
"""

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum


class PolicyError(ValueError):
    """A policy value that cannot be used, with the dotted field that holds it."""

    def __init__(self, field: str, value: object, accepted: str):
        super().__init__(f"field {field!r} has value {value!r}; accepted: {accepted}")
        self.field = field
        self.value = value
        self.accepted = accepted


class Jitter(StrEnum):
    """How a backoff delay is randomised, so retrying callers do not align."""

    FULL = "full"  # uniform in [0, delay]
    EQUAL = "equal"  # uniform in [delay / 2, delay]
    NONE = "none"  # exactly the delay


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient failures, spaced by backoff and capped by a budget."""

    max_attempts: int = 1  # 1 means the call is never retried
    backoff_base_s: float = 0.05
    backoff_multiplier: float = 2.0
    backoff_max_s: float = 1.0
    jitter: Jitter = Jitter.FULL
    budget_ratio: float = 0.2  # retries per call, over the budget window
    budget_min_retries: int = 3  # retries a window allows however few the calls
    budget_window_s: float = 10.0


@dataclass(frozen=True)
class BreakerPolicy:
    """A circuit breaker: open after consecutive failures, probe after open_s."""

    enabled: bool = False
    failure_threshold: int = 5
    open_s: float = 5.0
    half_open_max_calls: int = 1


@dataclass(frozen=True)
class BulkheadPolicy:
    """At most max_concurrent calls in flight; None means no limit."""

    max_concurrent: int | None = None


@dataclass(frozen=True)
class ResiliencePolicy:
    """Everything that shapes calls along one edge, besides its URL."""

    timeout_s: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    bulkhead: BulkheadPolicy = field(default_factory=BulkheadPolicy)
    # Answer a failed, short-circuited or rejected look-up from the cache
    # (a degraded "deferred" answer when no copy is held).
    fallback_on_failure: bool = False

    def as_json(self) -> dict:
        return asdict(self)


SECTIONS = ("retry", "breaker", "bulkhead")
FIELDS = ("timeout_s", *SECTIONS, "fallback_on_failure")

_MAX_ATTEMPTS = 10
_MAX_CONCURRENT = 100_000


def parse_policy(
    raw: object, base: ResiliencePolicy, prefix: str = ""
) -> ResiliencePolicy:
    """base with the fields raw names replaced; PolicyError on the first bad one."""
    reader = _Reader(raw, prefix)
    reader.known(FIELDS)
    return ResiliencePolicy(
        timeout_s=reader.seconds("timeout_s", base.timeout_s),
        retry=_retry(reader.section("retry"), base.retry),
        breaker=_breaker(reader.section("breaker"), base.breaker),
        bulkhead=_bulkhead(reader.section("bulkhead"), base.bulkhead),
        fallback_on_failure=reader.boolean(
            "fallback_on_failure", base.fallback_on_failure
        ),
    )


def _retry(reader: "_Reader", base: RetryPolicy) -> RetryPolicy:
    reader.known(tuple(RetryPolicy.__dataclass_fields__))
    policy = RetryPolicy(
        max_attempts=reader.integer(
            "max_attempts", base.max_attempts, 1, _MAX_ATTEMPTS
        ),
        backoff_base_s=reader.seconds("backoff_base_s", base.backoff_base_s, zero=True),
        backoff_multiplier=reader.number(
            "backoff_multiplier", base.backoff_multiplier, 1.0, 10.0
        ),
        backoff_max_s=reader.seconds("backoff_max_s", base.backoff_max_s, zero=True),
        jitter=reader.choice("jitter", base.jitter, Jitter),
        budget_ratio=reader.number("budget_ratio", base.budget_ratio, 0.0, 1.0),
        budget_min_retries=reader.integer(
            "budget_min_retries", base.budget_min_retries, 0, 1_000_000
        ),
        budget_window_s=reader.seconds("budget_window_s", base.budget_window_s),
    )
    if policy.backoff_max_s < policy.backoff_base_s:
        raise PolicyError(
            reader.name("backoff_max_s"),
            policy.backoff_max_s,
            f"a number of seconds >= backoff_base_s ({policy.backoff_base_s})",
        )
    return policy


def _breaker(reader: "_Reader", base: BreakerPolicy) -> BreakerPolicy:
    reader.known(tuple(BreakerPolicy.__dataclass_fields__))
    return BreakerPolicy(
        enabled=reader.boolean("enabled", base.enabled),
        failure_threshold=reader.integer(
            "failure_threshold", base.failure_threshold, 1, 1_000_000
        ),
        open_s=reader.seconds("open_s", base.open_s),
        half_open_max_calls=reader.integer(
            "half_open_max_calls", base.half_open_max_calls, 1, 1_000
        ),
    )


def _bulkhead(reader: "_Reader", base: BulkheadPolicy) -> BulkheadPolicy:
    reader.known(("max_concurrent",))
    if "max_concurrent" in reader.raw and reader.raw["max_concurrent"] is None:
        return BulkheadPolicy(None)
    return replace(
        base,
        max_concurrent=reader.integer(
            "max_concurrent",
            base.max_concurrent,
            1,
            _MAX_CONCURRENT,
            accepted=f"an integer 1..{_MAX_CONCURRENT}, or null for no limit",
        ),
    )


class _Reader:
    """Typed, optional fields of one mapping, each error naming the dotted field."""

    def __init__(self, raw: object, prefix: str):
        self.prefix = prefix
        if not isinstance(raw, Mapping):
            raise PolicyError(prefix or "(policy)", raw, "a JSON object of fields")
        self.raw = raw

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def known(self, allowed: tuple[str, ...]) -> None:
        for key in self.raw:
            if key not in allowed:
                raise PolicyError(
                    self.name(key),
                    self.raw[key],
                    f"no such field; fields: {', '.join(allowed)}",
                )

    def section(self, key: str) -> "_Reader":
        return _Reader(self.raw.get(key, {}), self.name(key))

    def number(self, key: str, default: float, low: float, high: float) -> float:
        if key not in self.raw:
            return default
        value = self.raw[key]
        if not _is_number(value) or not low <= value <= high:
            raise PolicyError(self.name(key), value, f"a number {low:g}..{high:g}")
        return float(value)

    def seconds(self, key: str, default: float, zero: bool = False) -> float:
        if key not in self.raw:
            return default
        value = self.raw[key]
        ok = _is_number(value) and (value >= 0 if zero else value > 0)
        if not ok or value > 86_400:
            bound = ">= 0" if zero else "> 0"
            raise PolicyError(
                self.name(key), value, f"a number of seconds {bound}, at most 86400"
            )
        return float(value)

    def integer(
        self, key: str, default, low: int, high: int, accepted: str | None = None
    ):
        if key not in self.raw:
            return default
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(
                self.name(key), value, accepted or f"an integer {low}..{high}"
            )
        if not low <= value <= high:
            raise PolicyError(
                self.name(key), value, accepted or f"an integer {low}..{high}"
            )
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise PolicyError(self.name(key), value, "true or false")
        return value

    def choice(self, key: str, default: StrEnum, kind: type[StrEnum]) -> StrEnum:
        value = self.raw.get(key, default.value)
        if value not in {member.value for member in kind}:
            accepted = ", ".join(member.value for member in kind)
            raise PolicyError(self.name(key), value, f"one of: {accepted}")
        return kind(value)


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)
