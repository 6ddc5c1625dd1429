"""Resilience policies of dependency edges, as declared in estate.yaml.

`dependency_defaults` holds the policy every edge starts from; an entry under
`edges` ("<caller>_to_<callee>") overrides single fields of it. The result is
handed to each mock as its dependency's "resilience" object, which the mock
checks again (mocks/core/resilience/policy.py) because it is started from a
file anyone can write.
"""

from collections.abc import Callable
from typing import Any

from harness.fields import Fields

SECTION_FIELDS = ("timeout_s", "retry", "breaker", "bulkhead", "fallback_on_failure")
JITTERS = ("full", "equal", "none")


def _int(low: int, high: int) -> Callable[[Fields, str], int]:
    def read(entry: Fields, key: str) -> int:
        return entry.get(
            key,
            int,
            check=lambda v: low <= v <= high,
            accepted=f"an integer from {low} to {high}",
        )

    return read


def _number(low: float, high: float | None = None) -> Callable[[Fields, str], float]:
    return lambda entry, key: entry.number(key, minimum=low, maximum=high)


def _positive_seconds(entry: Fields, key: str) -> float:
    return entry.get(
        key,
        (int, float),
        check=lambda v: 0 < v <= 86_400,
        accepted="a number of seconds above 0, at most 86400",
    )


def _boolean(entry: Fields, key: str) -> bool:
    return entry.get(key, bool)


def _jitter(entry: Fields, key: str) -> str:
    return entry.choice(key, JITTERS)


def _limit(entry: Fields, key: str) -> int | None:
    return entry.get(
        key,
        (int, type(None)),
        check=lambda v: v is None or 1 <= v <= 100_000,
        accepted="an integer from 1 to 100000, or null for no limit",
    )


READERS: dict[str, dict[str, Callable[[Fields, str], Any]]] = {
    "retry": {
        "max_attempts": _int(1, 10),
        "backoff_base_s": _number(0, 86_400),
        "backoff_multiplier": _number(1, 10),
        "backoff_max_s": _number(0, 86_400),
        "jitter": _jitter,
        "budget_ratio": _number(0, 1),
        "budget_min_retries": _int(0, 1_000_000),
        "budget_window_s": _positive_seconds,
    },
    "breaker": {
        "enabled": _boolean,
        "failure_threshold": _int(1, 1_000_000),
        "open_s": _positive_seconds,
        "half_open_max_calls": _int(1, 1_000),
    },
    "bulkhead": {"max_concurrent": _limit},
}


def read_policy(entry: Fields) -> dict:
    """The policy fields written in one mapping (defaults or one edge), checked."""
    entry.require_known(SECTION_FIELDS)
    policy: dict = {}
    if "timeout_s" in entry.data:
        policy["timeout_s"] = entry.number("timeout_s", minimum=0.001)
    if "fallback_on_failure" in entry.data:
        policy["fallback_on_failure"] = entry.get("fallback_on_failure", bool)
    for section, readers in READERS.items():
        if section in entry.data:
            policy[section] = _read_section(entry.child(section), readers)
    return policy


def _read_section(entry: Fields, readers: dict) -> dict:
    entry.require_known(readers)
    values = {
        key: read(entry, key) for key, read in readers.items() if key in entry.data
    }
    base, cap = values.get("backoff_base_s"), values.get("backoff_max_s")
    if base is not None and cap is not None and cap < base:
        entry.fail(
            entry.here + ("backoff_max_s",),
            cap,
            f"a number of seconds >= backoff_base_s ({base:g})",
        )
    return values


def merge(defaults: dict, override: dict) -> dict:
    """defaults with override's fields written over them, section by section."""
    merged = {
        key: dict(value) if isinstance(value, dict) else value
        for key, value in defaults.items()
    }
    for key, value in override.items():
        if isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    return merged
