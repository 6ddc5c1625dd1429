"""An upper bound on a whole run, so a harness bug never becomes a hung CI job.

Every control-plane call has its own timeout; this bound catches the rest (a
loop that never ends, a wait on something that never comes). It is computed
from the experiment's phases, and when it passes, the main thread is sent
SIGTERM, which the runner turns into an `error` verdict after its clean-up.
"""

import logging
import math
import os
import signal
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Bringing up the estate: proxy, eight mocks, Alertmanager and Prometheus
# waiting for every target, on a busy two-core machine.
ESTATE_START_ALLOWANCE_S = 180.0
# Judging, the last polls and slack for a loaded machine.
MARGIN_S = 60.0


@dataclass(frozen=True)
class RunBound:
    steady_state_s: float
    fault_window_s: float
    resolve_s: float
    estate_start_s: float = ESTATE_START_ALLOWANCE_S
    margin_s: float = MARGIN_S

    @property
    def total_s(self) -> float:
        return math.ceil(
            self.estate_start_s
            + self.steady_state_s
            + self.fault_window_s
            + self.resolve_s
            + self.margin_s
        )

    def describe(self) -> str:
        return (
            f"{self.total_s} s (estate start {self.estate_start_s:g} + steady state "
            f"{self.steady_state_s:g} + faults {self.fault_window_s:g} + resolve "
            f"{self.resolve_s:g} + margin {self.margin_s:g})"
        )


class Watchdog:
    """Sends SIGTERM to this process's main thread once the bound has passed."""

    def __init__(self, bound: RunBound, signum: int = signal.SIGTERM):
        self.bound = bound
        self.signum = signum
        self.overran = False
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._wait, name="run-watchdog")
        self._thread.daemon = True

    def start(self) -> None:
        # Signals reach Python handlers in the main thread only; a run driven
        # from another thread has no handler to turn the signal into a verdict.
        if threading.current_thread() is threading.main_thread():
            self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)

    def _wait(self) -> None:
        if self._cancel.wait(self.bound.total_s):
            return
        self.overran = True
        log.error("run overran its upper bound of %s", self.bound.describe())
        signal.pthread_kill(threading.main_thread().ident, self.signum)
        os.sched_yield()
