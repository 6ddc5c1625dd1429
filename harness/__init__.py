"""Resilience harness: chaos experiments against the insurer's core APIs."""

from harness.errors import HarnessError

__all__ = ["HarnessError"]
