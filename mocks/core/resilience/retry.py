"""Backoff between retries, and the budget that caps how many retries happen.

The budget counts calls and retries over a sliding window of budget_window_s:
a retry is allowed while retries in the window stay within
budget_min_retries + budget_ratio * calls. So a failing dependency sees at
most about (1 + budget_ratio) times its normal traffic, however many attempts
each call may make. Known shortcoming: the budget counts this process's
calls only, so several callers of one dependency each retry up to their own.
"""

import random
from collections import deque
from collections.abc import Callable

from mocks.core.resilience.policy import Jitter, RetryPolicy


def backoff_s(policy: RetryPolicy, retry_number: int, rng: random.Random) -> float:
    """The pause before retry number retry_number (1 for the first retry)."""
    ceiling = policy.backoff_base_s * policy.backoff_multiplier ** (retry_number - 1)
    delay = min(policy.backoff_max_s, ceiling)
    if policy.jitter is Jitter.FULL:
        return rng.uniform(0.0, delay)
    if policy.jitter is Jitter.EQUAL:
        return rng.uniform(delay / 2, delay)
    return delay


class RetryBudget:
    """Calls and retries of one dependency over a sliding window."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float]):
        self.policy = policy
        self._clock = clock
        self._calls: deque[float] = deque()
        self._retries: deque[float] = deque()

    def record_call(self) -> None:
        self._calls.append(self._clock())

    def try_spend(self) -> bool:
        """Take one retry from the budget; False when it is exhausted."""
        self._forget_old()
        allowed = self.policy.budget_min_retries + self.policy.budget_ratio * len(
            self._calls
        )
        if len(self._retries) + 1 > allowed:
            return False
        self._retries.append(self._clock())
        return True

    def refund(self) -> None:
        """Give back the retry taken last; it was never sent."""
        if self._retries:
            self._retries.pop()

    def describe(self) -> dict:
        self._forget_old()
        return {
            "calls_in_window": len(self._calls),
            "retries_in_window": len(self._retries),
        }

    def _forget_old(self) -> None:
        horizon = self._clock() - self.policy.budget_window_s
        for times in (self._calls, self._retries):
            while times and times[0] <= horizon:
                times.popleft()
