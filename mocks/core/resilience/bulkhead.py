"""A concurrency limit per dependency: calls beyond it are refused at once."""

from collections.abc import Iterator
from contextlib import contextmanager

from mocks.core.resilience.policy import BulkheadPolicy


class BulkheadFull(Exception):
    """Every slot of the dependency's bulkhead is taken."""

    def __init__(self, limit: int):
        super().__init__(f"bulkhead full: {limit} calls already in flight")
        self.limit = limit


class Bulkhead:
    """Counts calls in flight; refuses one that would exceed max_concurrent."""

    def __init__(self, policy: BulkheadPolicy):
        self.policy = policy
        self.in_flight = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        limit = self.policy.max_concurrent
        if limit is not None and self.in_flight >= limit:
            raise BulkheadFull(limit)
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
