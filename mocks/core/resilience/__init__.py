"""Resilience policies per dependency: timeout, retries, breaker, bulkhead, fallback.

policy.py reads and checks them, breaker.py, retry.py and bulkhead.py hold one
pattern each, guard.py applies them around a call, metrics.py exports them.
"""

from mocks.core.resilience.breaker import BreakerState, CircuitBreaker, CircuitOpen
from mocks.core.resilience.bulkhead import Bulkhead, BulkheadFull
from mocks.core.resilience.guard import Attempt, DependencyGuard, Timing, Verdict
from mocks.core.resilience.metrics import (
    FallbackReason,
    LiveStateCollector,
    ResilienceMetrics,
)
from mocks.core.resilience.policy import (
    FIELDS,
    PolicyError,
    ResiliencePolicy,
    parse_policy,
)
from mocks.core.resilience.retry import RetryBudget, backoff_s

__all__ = [
    "FIELDS",
    "Attempt",
    "BreakerState",
    "Bulkhead",
    "BulkheadFull",
    "CircuitBreaker",
    "CircuitOpen",
    "DependencyGuard",
    "FallbackReason",
    "LiveStateCollector",
    "PolicyError",
    "ResilienceMetrics",
    "ResiliencePolicy",
    "RetryBudget",
    "Timing",
    "Verdict",
    "backoff_s",
    "parse_policy",
]
