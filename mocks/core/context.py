"""What one running service holds, and the spec each service module declares."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from fastapi import APIRouter, Request

from mocks.config import ServiceConfig
from mocks.core.dependencies import DependencyCalls, DependencyClient
from mocks.core.metrics import ServiceMetrics
from mocks.core.request_log import RequestLog
from mocks.core.seed import SeedPlan, ensure_seeded
from mocks.core.storage import Store
from mocks.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceSpec:
    """One mock service: the dependencies it calls, its routes, its seeded data."""

    name: str
    routes: Callable[["ServiceContext"], APIRouter]
    calls: tuple[str, ...] = ()
    # Dependencies whose look-ups may be answered from the cache fallback.
    cacheable: frozenset[str] = frozenset()
    seed: SeedPlan | None = None

    def check(self, config: ServiceConfig, source: str) -> None:
        """Refuse a config whose dependencies or seed do not fit this service."""
        named = sorted(config.dependencies)
        if named != sorted(self.calls):
            raise ConfigError(
                f"{source}: field 'dependencies' has keys {named}; "
                f"accepted for {self.name}: exactly {sorted(self.calls)}"
            )
        if self.seed is not None and config.seed is None:
            raise ConfigError(
                f"{source}: field 'seed' is missing; {self.name} needs it to "
                f"make its seeded {self.seed.kind}"
            )


@dataclass
class ServiceContext:
    """The config, metrics, storage, dependency client and request log of a service."""

    config: ServiceConfig
    spec: ServiceSpec
    metrics: ServiceMetrics
    store: Store
    dependencies: DependencyClient
    request_log: RequestLog
    # Loops a service runs while it serves, such as a reconciler; see every().
    _jobs: list[tuple[str, float, Callable[[], Awaitable[None]]]] = field(
        default_factory=list
    )
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @classmethod
    def build(cls, config: ServiceConfig, spec: ServiceSpec) -> "ServiceContext":
        """Make every part; nothing is opened or started until start()."""
        metrics = ServiceMetrics(spec.name, config.version, config.latency_buckets_s)
        store = Store(config.data_dir / f"{spec.name}.sqlite3")
        dependencies = DependencyClient(
            spec.name,
            config.version,
            config.dependencies,
            spec.cacheable,
            metrics,
            store,
        )
        request_log = RequestLog(config.log_dir / f"{spec.name}.log")
        return cls(config, spec, metrics, store, dependencies, request_log)

    @property
    def service(self) -> str:
        return self.spec.name

    def calls(self, request: Request) -> DependencyCalls:
        """The dependency calls of one request, carrying its trace context."""
        return self.dependencies.for_request(request.state.trace)

    def every(
        self, name: str, interval_s: float, job: Callable[[], Awaitable[None]]
    ) -> None:
        """Run job every interval_s while the service is up, from start() on.

        A job that raises is logged and run again at the next interval.
        """
        self._jobs.append((name, interval_s, job))

    async def start(self) -> None:
        self.store.open()
        if self.spec.seed is not None:
            ensure_seeded(self.store, self.spec.seed, self.config.seed)
        self.request_log.open()
        await self.dependencies.start()
        self._tasks = [
            asyncio.create_task(_repeat(*job), name=job[0]) for job in self._jobs
        ]
        log.info("%s %s started", self.service, self.config.version)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.dependencies.close()
        self.request_log.close()
        self.store.close()
        log.info("%s stopped", self.service)


async def _repeat(
    name: str, interval_s: float, job: Callable[[], Awaitable[None]]
) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await job()
        except Exception:
            log.exception("%s failed; it runs again in %s s", name, interval_s)


def add_route(
    router: APIRouter,
    method: str,
    path: str,
    endpoint: Callable,
    status: int,
    other_codes: tuple[int, ...],
) -> None:
    """Add a service route, declaring every status code it can answer.

    The declared codes are what the metrics export at zero from start-up.
    """
    router.add_api_route(
        path,
        endpoint,
        methods=[method],
        status_code=status,
        responses={
            code: {"description": HTTPStatus(code).phrase} for code in other_codes
        },
    )
