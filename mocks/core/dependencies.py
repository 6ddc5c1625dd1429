"""Calls from one service to its dependencies, each through its fault-proxy route.

A call is bounded as a whole by the dependency's timeout_s, not per read, so a
proxy that trickles bytes slowly still ends in a timeout. Every call is counted
in dependency_requests_total by outcome, and every attempt that reached for the
dependency is timed in dependency_request_duration_seconds (calls the breaker,
the bulkhead or the cache fallback answered are not). A dependency whose
look-ups can be cached may be switched to the "cache" fallback through the
admin API: look-ups then skip the dependency and answer from copies kept after
earlier successes.

Known shortcomings: fallback modes live in memory, so a restarted process
starts with every fallback "none"; and cached copies never expire, however old.
"""

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import httpx

from mocks.config import DependencyConfig
from mocks.core.metrics import Outcome, ServiceMetrics
from mocks.core.resilience import (
    FIELDS,
    Attempt,
    BreakerState,
    BulkheadFull,
    CircuitOpen,
    DependencyGuard,
    FallbackReason,
    LiveStateCollector,
    PolicyError,
    ResilienceMetrics,
    ResiliencePolicy,
    Timing,
    Verdict,
    parse_policy,
)
from mocks.core.storage import Store
from mocks.core.tracing import TraceContext
from mocks.errors import ConfigError, DependencyFailed, NotFound, Rejected

log = logging.getLogger(__name__)

_MAX_CONNECTIONS = 200
_MAX_IDLE_CONNECTIONS = 50
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_ADMIN_FIELDS = ("fallback", "breaker_state", "target", *FIELDS)
# What the admin API's "breaker_state" field takes: hold it, or give it back.
_BREAKER_SETTINGS = {
    "open": BreakerState.OPEN,
    "closed": BreakerState.CLOSED,
    "auto": None,
}


class FallbackMode(StrEnum):
    """What a service does instead of calling a dependency."""

    NONE = "none"  # always call; a failed call answers 503 dependency_failed
    CACHE = "cache"  # skip look-ups; answer from copies of earlier answers


class LookupSource(StrEnum):
    """Where a look-up's answer came from."""

    LIVE = "live"  # the dependency answered just now
    CACHE = "cache"  # the cache fallback answered; the dependency was not called


@dataclass(frozen=True)
class Answer:
    """A dependency's answer: its status code and its JSON object."""

    dependency: str
    status: int
    body: dict

    def field(self, name: str) -> object:
        """One field of the answer; DependencyFailed if the answer lacks it."""
        if name not in self.body:
            raise DependencyFailed(self.dependency, f"answer has no field {name!r}")
        return self.body[name]


@dataclass(frozen=True)
class Lookup:
    """A record looked up by id; record is None when there is none to be had."""

    record: dict | None
    source: LookupSource

    @property
    def not_found(self) -> bool:
        """The dependency itself answered that there is no such record."""
        return self.source is LookupSource.LIVE and self.record is None

    @property
    def check(self) -> str:
        """verified (live answer), cached (fallback copy) or deferred (no copy)."""
        if self.source is LookupSource.LIVE:
            return "verified"
        return "cached" if self.record is not None else "deferred"


@dataclass
class _DependencyState:
    config: DependencyConfig
    cacheable: bool
    guard: DependencyGuard
    fallback: FallbackMode = FallbackMode.NONE
    # Which instance calls go to: "primary", or "secondary" after a failover.
    target: str = "primary"

    @property
    def url(self) -> str:
        if self.target == "secondary":
            return self.config.secondary_url
        return self.config.url

    @property
    def policy(self) -> ResiliencePolicy:
        return self.guard.policy

    def allowed_fallbacks(self) -> tuple[FallbackMode, ...]:
        if self.cacheable:
            return (FallbackMode.CACHE, FallbackMode.NONE)
        return (FallbackMode.NONE,)

    def check_policy(self, policy: ResiliencePolicy, field: str) -> None:
        """PolicyError when the policy asks for a cache this dependency has not."""
        if policy.fallback_on_failure and not self.cacheable:
            raise PolicyError(
                field,
                True,
                f"false: {self.config.name} answers are never cached by this service",
            )

    def describe(self) -> dict:
        policy = self.policy.as_json()
        return {
            "url": self.url,
            "target": self.target,
            "secondary_url": self.config.secondary_url,
            "timeout_s": policy.pop("timeout_s"),
            "fallback": self.fallback.value,
            **policy,
            "state": self.guard.describe(),
        }


class DependencyClient:
    """The one HTTP client of a service, its dependencies and their fallbacks."""

    def __init__(
        self,
        service: str,
        version: str,
        dependencies: Mapping[str, DependencyConfig],
        cacheable: frozenset[str],
        metrics: ServiceMetrics,
        store: Store,
        timing: Timing | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.service = service
        self.version = version
        self.metrics = metrics
        self.store = store
        self.resilience_metrics = ResilienceMetrics(service, metrics.registry)
        timing = timing or Timing.real()
        self._states = {
            name: self._new_state(config, name in cacheable, timing)
            for name, config in dependencies.items()
        }
        metrics.registry.register(
            LiveStateCollector(service, self._breaker_states, self._in_flight)
        )
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

    def _new_state(
        self, config: DependencyConfig, cacheable: bool, timing: Timing
    ) -> _DependencyState:
        policy = config.resilience
        if policy.timeout_s != config.timeout_s:
            policy = dataclasses.replace(policy, timeout_s=config.timeout_s)
        guard = DependencyGuard(config.name, policy, self.resilience_metrics, timing)
        state = _DependencyState(config, cacheable, guard)
        try:
            state.check_policy(policy, "resilience.fallback_on_failure")
        except PolicyError as exc:
            raise ConfigError(
                f"{self.service}: field 'dependencies.{config.name}.{exc.field}' "
                f"has value {exc.value!r}; accepted: {exc.accepted}"
            ) from exc
        self.resilience_metrics.declare(config.name)
        return state

    def _breaker_states(self) -> dict:
        return {name: state.guard.breaker_state for name, state in self._states.items()}

    def _in_flight(self) -> dict:
        return {
            name: state.guard.bulkhead.in_flight for name, state in self._states.items()
        }

    async def start(self) -> None:
        self._http = httpx.AsyncClient(
            headers={
                "User-Agent": f"mocks-{self.service}/{self.version}",
                "X-Caller": self.service,
            },
            limits=httpx.Limits(
                max_connections=_MAX_CONNECTIONS,
                max_keepalive_connections=_MAX_IDLE_CONNECTIONS,
            ),
            # Proxy variables of the environment must not reroute calls that
            # are meant for the fault proxy's routes on 127.0.0.1.
            trust_env=False,
            transport=self._transport,
        )

    def add_request_hook(
        self, hook: Callable[[httpx.Request], Awaitable[None]]
    ) -> None:
        """Run hook before every dependency call takes a pooled connection."""
        if self._http is None:
            raise RuntimeError("the dependency client has not started")
        hooks = self._http.event_hooks
        self._http.event_hooks = {**hooks, "request": [*hooks["request"], hook]}

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def describe(self) -> dict[str, dict]:
        return {name: state.describe() for name, state in self._states.items()}

    def describe_one(self, name: str) -> dict:
        """One dependency's state; NotFound if the service does not call it."""
        return self._state(name).describe()

    def set_fallback(self, name: str, value: object) -> dict:
        """Switch one dependency's fallback; refuse values it cannot honour."""
        state = self._state(name)
        self._apply_fallback(state, self._checked_fallback(state, value))
        return state.describe()

    def update(self, name: str, changes: dict) -> dict:
        """Change fallback and policy fields together, or nothing (Rejected)."""
        state = self._state(name)
        for field in changes:
            if field not in _ADMIN_FIELDS:
                accepted = ", ".join(_ADMIN_FIELDS)
                raise Rejected(
                    field, changes[field], f"no such field; fields: {accepted}"
                )
        if not changes:
            accepted = ", ".join(mode.value for mode in state.allowed_fallbacks())
            raise Rejected(
                "fallback",
                None,
                f"{name} accepts: {accepted}; "
                f"or give any of: {', '.join(_ADMIN_FIELDS)}",
            )
        fallback = state.fallback
        if "fallback" in changes:
            fallback = self._checked_fallback(state, changes["fallback"])
        breaker = self._checked_breaker(changes)
        target = self._checked_target(state, changes.get("target", state.target))
        policy_changes = {
            k: v
            for k, v in changes.items()
            if k not in ("fallback", "breaker_state", "target")
        }
        try:
            policy = parse_policy(policy_changes, state.policy)
            state.check_policy(policy, "fallback_on_failure")
        except PolicyError as exc:
            raise Rejected(exc.field, exc.value, exc.accepted) from exc
        state.guard.configure(policy)
        if "breaker_state" in changes:
            state.guard.breaker.force(breaker)
        if target != state.target:
            log.info("%s now calls its %s at %s", name, target, state.url)
            state.target = target
        self._apply_fallback(state, fallback)
        log.info("policy of %s set to %s", name, policy)
        return state.describe()

    def _checked_target(self, state: _DependencyState, value: object) -> str:
        targets = ("primary", "secondary") if state.config.secondary_url else ()
        if value == "primary" or value in targets:
            return value
        accepted = ", ".join(targets) or "primary (no secondary is configured)"
        raise Rejected("target", value, f"{state.config.name} accepts: {accepted}")

    def _checked_breaker(self, changes: dict) -> BreakerState | None:
        value = changes.get("breaker_state", "auto")
        if not isinstance(value, str) or value not in _BREAKER_SETTINGS:
            raise Rejected(
                "breaker_state", value, f"one of: {', '.join(_BREAKER_SETTINGS)}"
            )
        return _BREAKER_SETTINGS[value]

    def _checked_fallback(self, state: _DependencyState, value: object) -> FallbackMode:
        allowed = state.allowed_fallbacks()
        accepted = ", ".join(mode.value for mode in allowed)
        if value not in {mode.value for mode in allowed}:
            raise Rejected(
                "fallback", value, f"{state.config.name} accepts: {accepted}"
            )
        return FallbackMode(value)

    def _apply_fallback(self, state: _DependencyState, mode: FallbackMode) -> None:
        name = state.config.name
        state.fallback = mode
        self.metrics.set_fallback_active(name, mode is FallbackMode.CACHE)
        log.info("fallback of %s set to %s", name, mode.value)

    def for_request(self, trace: TraceContext) -> "DependencyCalls":
        return DependencyCalls(self, trace)

    def _state(self, name: str) -> _DependencyState:
        if name not in self._states:
            known = ", ".join(sorted(self._states)) or "(none)"
            raise NotFound(f"dependency {name!r} is not one of: {known}")
        return self._states[name]

    def _count(self, name: str, outcome: Outcome) -> None:
        self.metrics.count_dependency_call(name, outcome)

    async def call(
        self,
        name: str,
        method: str,
        path: str,
        trace: TraceContext,
        payload: dict | None = None,
        expect: tuple[int, ...] = (200,),
        idempotent: bool | None = None,
    ) -> Answer:
        """Call a dependency; raise DependencyFailed unless it answers as expected.

        Only idempotent calls are retried: GET and the like, and any call whose
        payload carries an idempotency_key, unless idempotent says otherwise.
        """
        state = self._state(name)
        if idempotent is None:
            idempotent = method.upper() in _IDEMPOTENT_METHODS or (
                isinstance(payload, dict) and "idempotency_key" in payload
            )

        async def attempt() -> Attempt:
            return await self._attempt(state, method, path, payload, trace, expect)

        try:
            result = await state.guard.run(attempt, retriable=idempotent)
        except (CircuitOpen, BulkheadFull) as exc:
            self._count(name, Outcome.REJECTED)
            raise DependencyFailed(name, f"not called: {exc}") from exc
        if isinstance(result.value, DependencyFailed):
            raise result.value
        return result.value

    async def _attempt(
        self,
        state: _DependencyState,
        method: str,
        path: str,
        payload: dict | None,
        trace: TraceContext,
        expect: tuple[int, ...],
    ) -> Attempt:
        """One exchange, counted by outcome; failures are returned, not raised."""
        name = state.config.name
        started = time.perf_counter()
        try:
            response = await self._exchange(state, method, path, payload, trace)
        except DependencyFailed as failed:
            self.metrics.observe_dependency_call(name, time.perf_counter() - started)
            return Attempt(Verdict.TRANSIENT, failed)
        # Timed here, not in a finally: a cancelled call is in no outcome count,
        # so it stays out of the histogram too.
        self.metrics.observe_dependency_call(name, time.perf_counter() - started)
        if response.status_code not in expect:
            self._count(name, Outcome.ERROR)
            verdict = (
                Verdict.TRANSIENT if response.status_code >= 500 else Verdict.PERMANENT
            )
            reason = f"answered HTTP {response.status_code} to {method} {path}"
            return Attempt(verdict, DependencyFailed(name, reason))
        body = _json_object(response)
        if body is None:
            self._count(name, Outcome.ERROR)
            reason = f"answer to {method} {path} is not a JSON object"
            return Attempt(Verdict.PERMANENT, DependencyFailed(name, reason))
        self._count(name, Outcome.OK)
        return Attempt(Verdict.OK, Answer(name, response.status_code, body))

    async def lookup(
        self, name: str, path: str, key: str, trace: TraceContext
    ) -> Lookup:
        """GET one record by key: found, missing (404), or from the cache fallback."""
        state = self._state(name)
        if state.fallback is FallbackMode.CACHE:
            self._count(name, Outcome.FALLBACK)
            return self._from_cache(name, key, FallbackReason.SWITCHED)
        try:
            answer = await self.call(name, "GET", path, trace, expect=(200, 404))
        except DependencyFailed as failed:
            if not (state.policy.fallback_on_failure and state.cacheable):
                raise
            rejected = isinstance(failed.__cause__, CircuitOpen | BulkheadFull)
            reason = FallbackReason.REJECTED if rejected else FallbackReason.FAILED
            log.debug("look-up of %s failed, answering from cache: %s", name, failed)
            return self._from_cache(name, key, reason)
        if answer.status == 404:
            return Lookup(None, LookupSource.LIVE)
        if state.cacheable:
            self.store.cache(name, key, answer.body)
        return Lookup(answer.body, LookupSource.LIVE)

    def _from_cache(self, name: str, key: str, reason: str) -> Lookup:
        self.resilience_metrics.fallback_served(name, reason)
        return Lookup(self.store.cached(name, key), LookupSource.CACHE)

    async def _exchange(
        self,
        state: _DependencyState,
        method: str,
        path: str,
        payload: dict | None,
        trace: TraceContext,
    ) -> httpx.Response:
        if self._http is None:
            raise RuntimeError(f"{self.service}: dependency client is not started")
        config = state.config
        timeout_s = state.policy.timeout_s
        headers = {"traceparent": trace.traceparent()}
        log.debug("calling %s: %s %s", config.name, method, path)
        try:
            async with asyncio.timeout(timeout_s):
                return await self._http.request(
                    method,
                    state.url + path,
                    json=payload,
                    headers=headers,
                    timeout=timeout_s,
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            self._count(config.name, Outcome.TIMEOUT)
            raise DependencyFailed(
                config.name, f"no answer to {method} {path} within {timeout_s} s"
            ) from exc
        except httpx.HTTPError as exc:
            self._count(config.name, Outcome.ERROR)
            raise DependencyFailed(
                config.name, f"{method} {path} failed: {type(exc).__name__}: {exc}"
            ) from exc


def _json_object(response: httpx.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class DependencyCalls:
    """The calls made while serving one request, all carrying its trace context."""

    def __init__(self, client: DependencyClient, trace: TraceContext):
        self._client = client
        self._trace = trace

    async def call(
        self,
        name: str,
        method: str,
        path: str,
        payload: dict | None = None,
        expect: tuple[int, ...] = (200,),
        idempotent: bool | None = None,
    ) -> Answer:
        return await self._client.call(
            name, method, path, self._trace, payload, expect, idempotent
        )

    async def lookup(self, name: str, path: str, key: str) -> Lookup:
        return await self._client.lookup(name, path, key, self._trace)
