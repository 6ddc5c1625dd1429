"""The policies of one dependency, applied around each call.

    bulkhead slot ─► [breaker permit ─► attempt ─► breaker result]
                      └─ transient failure, call retriable, attempts and
                         budget left: back off, then the next attempt

The guard knows nothing of HTTP: an attempt reports whether it succeeded,
failed transiently (timeout, refused connection, 5xx: worth retrying and held
against the breaker) or failed for good (a 4xx or an unusable answer: never
retried, and no sign the dependency is unwell).

Known shortcoming: the timeout bounds each attempt, not the whole call, so a
retried call can take max_attempts times timeout_s plus the backoff pauses.
"""

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from mocks.core.resilience.breaker import BreakerState, CircuitBreaker, CircuitOpen
from mocks.core.resilience.bulkhead import Bulkhead, BulkheadFull
from mocks.core.resilience.metrics import ResilienceMetrics
from mocks.core.resilience.policy import ResiliencePolicy
from mocks.core.resilience.retry import RetryBudget, backoff_s

log = logging.getLogger(__name__)

T = TypeVar("T")


class Verdict(StrEnum):
    """How one attempt ended, as far as the policies care."""

    OK = "ok"
    TRANSIENT = "transient"  # worth a retry; counts against the breaker
    PERMANENT = "permanent"  # never retried; the breaker does not count it


@dataclass(frozen=True)
class Attempt(Generic[T]):
    """One attempt's verdict and whatever the caller wants back from it."""

    verdict: Verdict
    value: T


@dataclass(frozen=True)
class Timing:
    """Where the guard gets time, sleep and randomness; tests pass fakes."""

    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    rng: random.Random

    @classmethod
    def real(cls) -> "Timing":
        return cls(clock=time.monotonic, sleep=asyncio.sleep, rng=random.Random())


class DependencyGuard:
    """Bulkhead, breaker, retries and budget of one dependency."""

    def __init__(
        self,
        dependency: str,
        policy: ResiliencePolicy,
        metrics: ResilienceMetrics,
        timing: Timing,
    ):
        self.dependency = dependency
        self.policy = policy
        self.metrics = metrics
        self.timing = timing
        self.breaker = CircuitBreaker(policy.breaker, timing.clock)
        self.budget = RetryBudget(policy.retry, timing.clock)
        self.bulkhead = Bulkhead(policy.bulkhead)

    def configure(self, policy: ResiliencePolicy) -> None:
        """Apply a new policy; breaker state, budget window and calls in flight stay."""
        self.policy = policy
        self.breaker.configure(policy.breaker)
        self.budget.policy = policy.retry
        self.bulkhead.policy = policy.bulkhead

    @property
    def breaker_state(self) -> BreakerState:
        return self.breaker.state

    def describe(self) -> dict:
        return {
            "breaker": self.breaker.describe(),
            "retry_budget": self.budget.describe(),
            "calls_in_flight": self.bulkhead.in_flight,
        }

    async def run(
        self, attempt: Callable[[], Awaitable[Attempt[T]]], retriable: bool
    ) -> Attempt[T]:
        """The last attempt; CircuitOpen or BulkheadFull when none was allowed."""
        try:
            with self.bulkhead.slot():
                self.budget.record_call()
                return await self._attempts(attempt, retriable)
        except BulkheadFull:
            self.metrics.bulkhead_rejected(self.dependency)
            raise

    async def _attempts(
        self, attempt: Callable[[], Awaitable[Attempt[T]]], retriable: bool
    ) -> Attempt[T]:
        permit = self.breaker.admit()
        made = 0
        while True:
            result = await attempt()
            made += 1
            self.breaker.record(permit, failed=result.verdict is Verdict.TRANSIENT)
            if not self._should_retry(result, retriable, made):
                return result
            pause_s = backoff_s(self.policy.retry, made, self.timing.rng)
            log.debug("retrying %s in %.3f s", self.dependency, pause_s)
            await self.timing.sleep(pause_s)
            try:
                permit = self.breaker.admit()
            except CircuitOpen:
                # The breaker opened meanwhile: the last failure is the answer,
                # and the retry never sent neither counts nor spends the budget.
                self.budget.refund()
                return result
            self.metrics.retried(self.dependency)

    def _should_retry(self, result: Attempt, retriable: bool, made: int) -> bool:
        if result.verdict is not Verdict.TRANSIENT or not retriable:
            return False
        if made >= self.policy.retry.max_attempts:
            return False
        if not self.budget.try_spend():
            self.metrics.budget_exhausted(self.dependency)
            return False
        return True
