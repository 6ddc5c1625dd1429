"""Calls from one service to its dependencies, each through its fault-proxy route.

A call is bounded as a whole by the dependency's timeout_s, not per read, so a
proxy that trickles bytes slowly still ends in a timeout. Every call is counted
in dependency_requests_total by outcome. A dependency whose look-ups can be
cached may be switched to the "cache" fallback through the admin API: look-ups
then skip the dependency and answer from copies kept after earlier successes.

Known shortcomings: fallback modes live in memory, so a restarted process
starts with every fallback "none"; and cached copies never expire, however old.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import httpx

from mocks.config import DependencyConfig
from mocks.core.metrics import Outcome, ServiceMetrics
from mocks.core.storage import Store
from mocks.core.tracing import TraceContext
from mocks.errors import DependencyFailed, NotFound, Rejected

log = logging.getLogger(__name__)

_MAX_CONNECTIONS = 200
_MAX_IDLE_CONNECTIONS = 50


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
    fallback: FallbackMode = FallbackMode.NONE

    def allowed_fallbacks(self) -> tuple[FallbackMode, ...]:
        if self.cacheable:
            return (FallbackMode.CACHE, FallbackMode.NONE)
        return (FallbackMode.NONE,)

    def describe(self) -> dict:
        return {
            "url": self.config.url,
            "timeout_s": self.config.timeout_s,
            "fallback": self.fallback.value,
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
    ):
        self.service = service
        self.version = version
        self.metrics = metrics
        self.store = store
        self._states = {
            name: _DependencyState(config, cacheable=name in cacheable)
            for name, config in dependencies.items()
        }
        self._http: httpx.AsyncClient | None = None

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
        )

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
        allowed = state.allowed_fallbacks()
        accepted = ", ".join(mode.value for mode in allowed)
        if value not in {mode.value for mode in allowed}:
            raise Rejected("fallback", value, f"{name} accepts: {accepted}")
        state.fallback = FallbackMode(value)
        self.metrics.set_fallback_active(name, state.fallback is FallbackMode.CACHE)
        log.info("fallback of %s set to %s", name, state.fallback.value)
        return state.describe()

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
    ) -> Answer:
        """Call a dependency; raise DependencyFailed unless it answers as expected."""
        config = self._state(name).config
        response = await self._exchange(config, method, path, payload, trace)
        if response.status_code not in expect:
            self._count(name, Outcome.ERROR)
            raise DependencyFailed(
                name, f"answered HTTP {response.status_code} to {method} {path}"
            )
        body = _json_object(response)
        if body is None:
            self._count(name, Outcome.ERROR)
            raise DependencyFailed(
                name, f"answer to {method} {path} is not a JSON object"
            )
        self._count(name, Outcome.OK)
        return Answer(name, response.status_code, body)

    async def lookup(
        self, name: str, path: str, key: str, trace: TraceContext
    ) -> Lookup:
        """GET one record by key: found, missing (404), or from the cache fallback."""
        state = self._state(name)
        if state.fallback is FallbackMode.CACHE:
            self._count(name, Outcome.FALLBACK)
            return Lookup(self.store.cached(name, key), LookupSource.CACHE)
        answer = await self.call(name, "GET", path, trace, expect=(200, 404))
        if answer.status == 404:
            return Lookup(None, LookupSource.LIVE)
        if state.cacheable:
            self.store.cache(name, key, answer.body)
        return Lookup(answer.body, LookupSource.LIVE)

    async def _exchange(
        self,
        config: DependencyConfig,
        method: str,
        path: str,
        payload: dict | None,
        trace: TraceContext,
    ) -> httpx.Response:
        if self._http is None:
            raise RuntimeError(f"{self.service}: dependency client is not started")
        headers = {"traceparent": trace.traceparent()}
        log.debug("calling %s: %s %s", config.name, method, path)
        try:
            async with asyncio.timeout(config.timeout_s):
                return await self._http.request(
                    method,
                    config.url + path,
                    json=payload,
                    headers=headers,
                    timeout=config.timeout_s,
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            self._count(config.name, Outcome.TIMEOUT)
            raise DependencyFailed(
                config.name, f"no answer to {method} {path} within {config.timeout_s} s"
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
    ) -> Answer:
        return await self._client.call(name, method, path, self._trace, payload, expect)

    async def lookup(self, name: str, path: str, key: str) -> Lookup:
        return await self._client.lookup(name, path, key, self._trace)
