"""A circuit breaker per dependency: closed, open, half-open.

    closed ──failure_threshold consecutive failures──► open
    open ──open_s elapsed──► half-open (admits half_open_max_calls trials)
    half-open ──every trial succeeded──► closed
    half-open ──any trial failed──► open (for open_s again)

Time comes from an injected clock, so tests step it instead of sleeping.
A result that arrives after the breaker moved on (a call admitted before it
opened) is ignored, so it can neither close nor reopen anything.

An operator (a runbook) may force the breaker open or closed through the
admin API; a forced breaker neither counts failures nor moves until it is
set back to "auto", which resumes from closed.

Known shortcoming: the breaker opens only on consecutive failures; it has no
failure-rate threshold, so a dependency failing every other call never opens it.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from mocks.core.resilience.policy import BreakerPolicy

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    """Where a breaker stands."""

    CLOSED = "closed"  # calls go through; consecutive failures are counted
    OPEN = "open"  # calls are refused at once until open_s has passed
    HALF_OPEN = "half_open"  # a bounded number of trial calls probe the dependency


class CircuitOpen(Exception):
    """The breaker refused a call; retry_after_s says when it will probe again."""

    def __init__(self, state: BreakerState, retry_after_s: float):
        super().__init__(f"circuit breaker is {state.value}")
        self.state = state
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Permit:
    """Leave to make one call, tied to the breaker period that granted it."""

    period: int
    trial: bool


class CircuitBreaker:
    """One dependency's breaker; thread-unsafe, used from one event loop."""

    def __init__(
        self,
        policy: BreakerPolicy,
        clock: Callable[[], float],
        on_change: Callable[[BreakerState], None] = lambda state: None,
    ):
        self.policy = policy
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._period = 0
        self._failures = 0
        self._opened_at = 0.0
        self._trials_admitted = 0
        self._trials_succeeded = 0
        self._forced: BreakerState | None = None

    @property
    def forced(self) -> bool:
        return self._forced is not None

    @property
    def state(self) -> BreakerState:
        if self._forced is not None:
            return self._forced
        if self._state is BreakerState.OPEN and self._open_elapsed():
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def configure(self, policy: BreakerPolicy) -> None:
        """Use a new policy; a disabled breaker closes at once."""
        self.policy = policy
        if not policy.enabled and self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)

    def force(self, state: BreakerState | None) -> None:
        """Hold the breaker open or closed; None hands it back to its policy."""
        if state is BreakerState.HALF_OPEN:
            raise ValueError("a breaker can be forced open or closed, not half_open")
        log.info("circuit breaker forced %s", state.value if state else "auto")
        self._forced = state
        self._move(state or BreakerState.CLOSED)

    def admit(self) -> Permit:
        """A permit for one call, or CircuitOpen."""
        if self._forced is BreakerState.OPEN:
            raise CircuitOpen(BreakerState.OPEN, self.policy.open_s)
        if not self.policy.enabled or self._forced is not None:
            return Permit(self._period, trial=False)
        state = self.state
        if state is BreakerState.OPEN:
            remaining = self._opened_at + self.policy.open_s - self._clock()
            raise CircuitOpen(state, max(remaining, 0.0))
        if state is BreakerState.HALF_OPEN:
            if self._trials_admitted >= self.policy.half_open_max_calls:
                raise CircuitOpen(state, 0.0)
            self._trials_admitted += 1
            return Permit(self._period, trial=True)
        return Permit(self._period, trial=False)

    def record(self, permit: Permit, failed: bool) -> None:
        """The result of a permitted call: failed means timeout, refusal or 5xx."""
        if self._forced or not self.policy.enabled or permit.period != self._period:
            return
        if self._state is BreakerState.HALF_OPEN:
            self._record_trial(failed)
        elif failed:
            self._failures += 1
            if self._failures >= self.policy.failure_threshold:
                self._move(BreakerState.OPEN)
        else:
            self._failures = 0

    def describe(self) -> dict:
        return {
            "state": self.state.value,
            "forced": self.forced,
            "consecutive_failures": self._failures,
            "trials_admitted": self._trials_admitted,
        }

    def _record_trial(self, failed: bool) -> None:
        if failed:
            self._move(BreakerState.OPEN)
            return
        self._trials_succeeded += 1
        if self._trials_succeeded >= self.policy.half_open_max_calls:
            self._move(BreakerState.CLOSED)

    def _open_elapsed(self) -> bool:
        return self._clock() - self._opened_at >= self.policy.open_s

    def _move(self, state: BreakerState) -> None:
        log.info("circuit breaker %s -> %s", self._state.value, state.value)
        self._state = state
        self._period += 1
        self._failures = 0
        self._trials_admitted = 0
        self._trials_succeeded = 0
        if state is BreakerState.OPEN:
            self._opened_at = self._clock()
        self._on_change(state)
