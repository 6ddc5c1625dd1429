"""The faults active in one mock process: added and removed through the admin API.

A fault acts at one of three places. Error, slow and bad-deploy faults act once
the router has picked a route (a router dependency), so what they answer is
counted under the route's template like any other answer. Concurrency caps,
and the count of requests served under a loop block or a CPU burn, act in an
ASGI middleware before routing. Pool exhaustion holds calls to a dependency in
the dependency client's request hook until the call's own timeout ends them.

Every fault ends by itself: after duration_s, after first_n answers, or, for a
crash, with the process. Removing a fault wakes whatever it holds at once.

Known shortcomings: faults live in memory, so a restarted mock starts with
none. Pool exhaustion holds calls in an httpx request hook rather than taking
real connections, so a held call ends as a timeout, not as httpx's PoolTimeout,
through the hook DependencyClient offers before each call takes a connection.
Loop blocks and CPU burns count every request that arrives while they are
active as affected. CPU-burn threads share the interpreter lock, so they use
about one core at most. The crash exits with os._exit, so buffered request-log
lines are lost. Rates are drawn from an unseeded generator. Requests waiting
for a concurrency cap queue without bound.
"""

import asyncio
import collections
import itertools
import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field

import httpx
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mocks.core.context import ServiceContext
from mocks.core.fault_kinds import (
    EXEMPT_PREFIXES,
    BadDeployFault,
    CrashFault,
    ErrorFault,
    Fault,
    FaultKind,
    SlowFault,
    describe,
)
from mocks.errors import Conflict, InjectedFault, NotFound, Rejected

log = logging.getLogger(__name__)

# At most one of these at a time: two versions or two caps have no meaning.
_SINGLE_KINDS = (FaultKind.BAD_DEPLOY, FaultKind.CONCURRENCY_CAP)
_AMBIENT_KINDS = (FaultKind.LOOP_BLOCK, FaultKind.CPU_BURN)


@dataclass
class ActiveFault:
    """One fault as injected: its id, its value and what it has done so far."""

    id: str
    fault: Fault
    started: float
    ends: float | None
    affected_requests: int = 0
    removed: asyncio.Event = field(default_factory=asyncio.Event)
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    stop_threads: threading.Event = field(default_factory=threading.Event)

    @property
    def kind(self) -> FaultKind:
        return self.fault.kind

    def describe(self) -> dict:
        remaining_s = None
        if self.ends is not None:
            remaining_s = round(max(0.0, self.ends - time.monotonic()), 3)
        return {
            "id": self.id,
            **describe(self.fault),
            "affected_requests": self.affected_requests,
            "remaining_s": remaining_s,
        }


class FaultRegistry:
    """The active faults of one service and the code that makes them act."""

    def __init__(self, context: ServiceContext, rng: random.Random | None = None):
        self.context = context
        self.metrics = context.metrics
        self._faults: dict[str, ActiveFault] = {}
        self._numbers = itertools.count(1)
        self._random = rng or random.Random()
        self._in_flight = 0
        self._waiting: collections.deque[asyncio.Future] = collections.deque()
        self._pool_hooked = False
        self.metrics.declare_faults([kind.value for kind in FaultKind])

    # Life cycle

    def start(self) -> None:
        """Hook into the dependency client; call once it has started."""
        try:
            self.context.dependencies.add_request_hook(self._hold)
        except (AttributeError, RuntimeError) as exc:
            log.warning("pool exhaustion is unavailable: %s", exc)
            return
        self._pool_hooked = True

    def close(self) -> None:
        self.clear()

    # Admin operations

    def add(self, fault: Fault) -> ActiveFault:
        if fault.kind is FaultKind.POOL_EXHAUSTION and not self._pool_hooked:
            raise Conflict(
                "pool_exhaustion is unavailable: the dependency client exposes "
                "no httpx client to hook into"
            )
        running = self.context.config.version
        if isinstance(fault, BadDeployFault) and fault.version == running:
            raise Rejected(
                "version", fault.version, f"a label other than the running {running}"
            )
        for active in self._faults.values():
            if active.kind in _SINGLE_KINDS and active.kind is fault.kind:
                raise Conflict(
                    f"{fault.kind} fault {active.id} is active; remove it first"
                )
        now = time.monotonic()
        duration_s = getattr(fault, "duration_s", None)
        ends = now + duration_s if duration_s is not None else None
        active = ActiveFault(f"fault-{next(self._numbers)}", fault, now, ends)
        self._faults[active.id] = active
        loop = asyncio.get_running_loop()
        if duration_s is not None:
            active.timers.append(loop.call_later(duration_s, self._expire, active.id))
        self._begin(active, loop)
        self._show_active(fault.kind)
        log.info("fault added: %s %s", active.id, describe(fault))
        return active

    def get(self, fault_id: str) -> ActiveFault:
        if fault_id not in self._faults:
            known = ", ".join(self._faults) or "(none)"
            raise NotFound(f"fault {fault_id!r} is not active; active: {known}")
        return self._faults[fault_id]

    def all(self) -> list[ActiveFault]:
        return list(self._faults.values())

    def remove(self, fault_id: str) -> ActiveFault:
        active = self._faults.pop(self.get(fault_id).id)
        for timer in active.timers:
            timer.cancel()
        active.removed.set()
        active.stop_threads.set()
        self._end(active)
        self._show_active(active.kind)
        log.info("fault removed: %s (%s)", active.id, active.kind)
        return active

    def clear(self) -> list[ActiveFault]:
        return [self.remove(fault_id) for fault_id in list(self._faults)]

    def rollback(self) -> ActiveFault:
        """Remove the bad deploy, which puts the configured version back."""
        for active in self._faults.values():
            if active.kind is FaultKind.BAD_DEPLOY:
                return self.remove(active.id)
        raise Conflict(f"no bad deploy to roll back; version is {self.metrics.version}")

    async def crash(self, active: ActiveFault) -> None:
        """Exit the process after_ms after this runs (it runs once answered)."""
        fault: CrashFault = active.fault
        loop = asyncio.get_running_loop()
        loop.call_later(fault.after_ms / 1000, _exit, active.id, fault.exit_code)

    def _expire(self, fault_id: str) -> None:
        if fault_id in self._faults:
            log.info("fault expired: %s", fault_id)
            self.remove(fault_id)

    def _begin(self, active: ActiveFault, loop: asyncio.AbstractEventLoop) -> None:
        fault = active.fault
        if isinstance(fault, BadDeployFault):
            self.metrics.set_version(fault.version)
        elif fault.kind is FaultKind.LOOP_BLOCK:
            active.timers.append(loop.call_soon(self._block, active.id))
        elif fault.kind is FaultKind.CPU_BURN:
            for index in range(fault.threads):
                threading.Thread(
                    target=_burn,
                    args=(active.stop_threads, active.ends),
                    name=f"{active.id}-burn-{index}",
                    daemon=True,
                ).start()

    def _end(self, active: ActiveFault) -> None:
        if active.kind is FaultKind.BAD_DEPLOY:
            self.metrics.set_version(self.context.config.version)
        elif active.kind is FaultKind.CONCURRENCY_CAP:
            self._admit_all()

    def _show_active(self, kind: FaultKind) -> None:
        count = sum(1 for active in self._faults.values() if active.kind is kind)
        self.metrics.set_faults_active(kind.value, count)

    def _affect(self, active: ActiveFault) -> None:
        active.affected_requests += 1
        self.metrics.count_fault_affected(active.kind.value)

    def _of_kind(self, *kinds: FaultKind) -> list[ActiveFault]:
        return [active for active in self._faults.values() if active.kind in kinds]

    # Route-level faults (a router dependency of every service route)

    async def intercept(self, request: Request) -> None:
        """Delay or fail one routed request as the active faults say."""
        path, method = request.url.path, request.method
        delayed = set()
        for active in self._of_kind(FaultKind.SLOW, FaultKind.BAD_DEPLOY):
            if await self._maybe_delay(active, path, method, request.headers):
                delayed.add(active.id)
        for active in self._of_kind(FaultKind.ERROR, FaultKind.BAD_DEPLOY):
            # A bad deploy that delayed this request has counted it already.
            counted = active.id in delayed
            self._maybe_fail(active, path, method, request.headers, counted)

    async def _maybe_delay(self, active, path, method, headers) -> bool:
        fault = active.fault
        if isinstance(fault, SlowFault):
            if not fault.match.matches(path, method, headers):
                return False
            if self._random.random() >= fault.rate:
                return False
            jitter_ms = self._random.uniform(-fault.jitter_ms, fault.jitter_ms)
            delay_ms = max(0.0, fault.delay_ms + jitter_ms)
        elif fault.delay_ms > 0:
            delay_ms = fault.delay_ms
        else:
            return False
        self._affect(active)
        # Removal ends the wait at once, for requests already waiting too.
        try:
            async with asyncio.timeout(delay_ms / 1000):
                await active.removed.wait()
        except TimeoutError:
            pass
        return True

    def _maybe_fail(self, active, path, method, headers, counted: bool) -> None:
        fault = active.fault
        if isinstance(fault, ErrorFault):
            if not fault.match.matches(path, method, headers):
                return
            rate = fault.rate
        else:
            rate = fault.error_rate
        if active.removed.is_set() or self._random.random() >= rate:
            return
        if not counted:
            self._affect(active)
        if isinstance(fault, ErrorFault) and fault.first_n is not None:
            if active.affected_requests >= fault.first_n:
                self.remove(active.id)
        raise InjectedFault(active.id, fault.status_code)

    # Process-level faults (the FaultGate middleware)

    def count_ambient(self) -> None:
        for active in self._of_kind(*_AMBIENT_KINDS):
            self._affect(active)

    async def enter(self) -> None:
        """Take a serving slot, waiting while a concurrency cap is reached."""
        caps = self._of_kind(FaultKind.CONCURRENCY_CAP)
        if not caps or self._in_flight < caps[0].fault.max_in_flight:
            self._in_flight += 1
            return
        self._affect(caps[0])
        slot = asyncio.get_running_loop().create_future()
        self._waiting.append(slot)
        try:
            # A slot handed over is already counted in _in_flight.
            await slot
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled():
                self.leave()
            elif slot in self._waiting:
                self._waiting.remove(slot)
            raise

    def leave(self) -> None:
        """Give the slot to the longest waiter, or free it."""
        while self._waiting:
            slot = self._waiting.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self._in_flight -= 1

    def _admit_all(self) -> None:
        while self._waiting:
            slot = self._waiting.popleft()
            if not slot.done():
                self._in_flight += 1
                slot.set_result(None)

    def _block(self, fault_id: str) -> None:
        active = self._faults.get(fault_id)
        if active is None:
            return
        # Blocking the loop is the fault: nothing else of this process runs.
        time.sleep(active.fault.block_ms / 1000)
        self._affect(active)
        interval_ms = active.fault.interval_ms
        if not interval_ms:
            self.remove(fault_id)
            return
        wait_s = (interval_ms - active.fault.block_ms) / 1000
        loop = asyncio.get_running_loop()
        active.timers.append(loop.call_later(wait_s, self._block, fault_id))

    # Dependency calls (the dependency client's request hook)

    async def _hold(self, request: httpx.Request) -> None:
        for active in self._of_kind(FaultKind.POOL_EXHAUSTION):
            config = self.context.config.dependencies[active.fault.dependency]
            if str(request.url).startswith(config.url + "/"):
                self._affect(active)
                # No connection frees up: the call waits until its timeout
                # (the caller's) ends it, or until the fault is removed.
                await active.removed.wait()


class FaultGate:
    """ASGI middleware: concurrency caps, and counting under loop or CPU faults."""

    def __init__(self, app: ASGIApp, faults: FaultRegistry):
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        self.faults.count_ambient()
        await self.faults.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.faults.leave()


def _burn(stop: threading.Event, ends: float) -> None:
    # Pure Python spinning holds the GIL, starving the event loop thread too.
    while not stop.is_set() and time.monotonic() < ends:
        for _ in range(10_000):
            pass


def _exit(fault_id: str, exit_code: int) -> None:
    log.warning("fault %s: exiting with code %s", fault_id, exit_code)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(exit_code)
