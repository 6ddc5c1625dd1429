"""One estate for many experiments: started once, made clean between them.

The fault proxy, the mocks, the synthetic prober, the webhook sink and the
pager stub live as long as the estate. Each experiment gets a fresh Prometheus
and Alertmanager with fresh data folders: burn-rate windows look back up to
hours, so an earlier outage kept in a shared Prometheus would make the next
experiment's alerts fire sooner, or a no-alert experiment fail.

Before each experiment the estate is put back to how it started and then
checked: no toxics, every route enabled, no mock fault, every dependency's
fallback and policy as configured, every mock healthy, no load running.
"""

import enum
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from harness.config import Estate
from harness.errors import StackError
from harness.observe.pager import PagerEvent, PagerStub
from harness.observe.webhook import AlertEvent, WebhookSink
from harness.proxy.client import ToxiproxyClient
from harness.report.redact import estate_redactor, redact_tree
from harness.stack.local import Endpoints, LocalStack, Monitoring
from harness.stack.mock_admin import MockAdminClient
from harness.stack.proxy_choice import ProxyChoice

log = logging.getLogger(__name__)

# What a mock reports as its version until a bad deploy changes it.
CONFIGURED_VERSION = "1.0.0"
# Fields of /admin/dependencies that describe the moment, not the settings.
_DEPENDENCY_STATE_FIELDS = ("url", "state")


class EstateState(enum.Enum):
    NEW = "new"  # nothing started
    UP = "up"  # proxy, mocks, prober, sink and pager answer; no experiment runs
    IN_EXPERIMENT = "in_experiment"  # one experiment holds it, with its monitoring
    STOPPED = "stopped"  # every process it started has exited
    FAILED = "failed"  # start-up failed; what had started was stopped


class DirtyEstateError(StackError):
    """The estate could not be put back to a clean state between experiments."""


@dataclass(frozen=True)
class ExperimentEstate:
    """What one experiment sees of the estate: endpoints and the proxy client."""

    endpoints: Endpoints
    proxy: ToxiproxyClient
    stack: LocalStack
    monitoring: Monitoring
    # What was put back before this experiment: "route X: toxic Y removed", ...
    reset: tuple[str, ...] = ()


class SharedEstate:
    """Starts the lasting part of the estate once and lends it to experiments."""

    def __init__(
        self,
        estate: Estate,
        work_dir: Path,
        proxy_choice: ProxyChoice | None = None,
    ):
        self.estate = estate
        self.work_dir = Path(work_dir)
        self.state = EstateState.NEW
        self.sink = WebhookSink(on_alert=self._dispatch_alert)
        self.pager = PagerStub(on_event=self._dispatch_page)
        # The sink's and the pager's URLs are known once they listen.
        self.stack = LocalStack(estate, self.work_dir, "", proxy_choice=proxy_choice)
        self.endpoints: Endpoints | None = None
        self._on_alert: Callable[[AlertEvent], None] | None = None
        self._on_page: Callable[[PagerEvent], None] | None = None
        self._dependencies: dict[str, dict] = {}
        self._load_pids: list[int] = []
        self.experiments_run = 0

    def start(self) -> Endpoints:
        if self.state is not EstateState.NEW:
            raise StackError(f"estate already used (state {self.state.value})")
        try:
            self.sink.start()
            self.pager.start()
            self.stack.webhook_url = self.sink.url
            self.stack.pager_url = self.pager.url
            self.endpoints = self.stack.start_base()
            self.endpoints.webhook = self.sink.url
            self.endpoints.pager = self.pager.url
            self._dependencies = self._read_dependencies()
        except BaseException:
            self.state = EstateState.FAILED
            self._stop_all()
            raise
        self.state = EstateState.UP
        log.info("estate up: proxy=%s", self.endpoints.proxy_api)
        return self.endpoints

    def __enter__(self) -> "SharedEstate":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @contextmanager
    def experiment(
        self,
        run_dir: Path,
        on_alert: Callable[[AlertEvent], None],
        on_page: Callable[[PagerEvent], None],
        without_alerts: tuple[str, ...] = (),
    ) -> Iterator[ExperimentEstate]:
        """Lend the clean estate, with fresh monitoring, to one experiment."""
        if self.state is not EstateState.UP:
            raise StackError(
                f"an experiment needs an estate that is up and free "
                f"(state {self.state.value})"
            )
        reset = self.make_clean()
        self.sink.forget()
        self.pager.forget()
        self._on_alert, self._on_page = on_alert, on_page
        self.state = EstateState.IN_EXPERIMENT
        monitoring = Monitoring()
        try:
            monitoring = self.stack.start_monitoring(
                run_dir, self.sink.url, self.pager.url, without_alerts
            )
            yield ExperimentEstate(
                self._experiment_endpoints(run_dir, monitoring),
                self.stack.proxy,
                self.stack,
                monitoring,
                tuple(reset),
            )
        finally:
            # Monitoring goes first: no notification arrives once it is gone.
            monitoring.stop()
            self._on_alert = self._on_page = None
            self.experiments_run += 1
            if self.state is EstateState.IN_EXPERIMENT:
                self.state = EstateState.UP

    def _experiment_endpoints(self, run_dir: Path, monitoring: Monitoring):
        return replace(
            self.endpoints,
            prometheus=monitoring.prometheus,
            alertmanager=monitoring.alertmanager,
            run_dir=str(run_dir),
            pids={**self.endpoints.pids, **monitoring.pids()},
        )

    def track_load(self, pid: int | None) -> None:
        """Remember a load process, so the next clean-state check sees it ended."""
        if pid:
            self._load_pids.append(pid)

    def _dispatch_alert(self, event: AlertEvent) -> None:
        handler = self._on_alert
        if handler is None:
            log.info("alert %s notified outside any experiment; dropped", event)
            return
        handler(event)

    def _dispatch_page(self, event: PagerEvent) -> None:
        handler = self._on_page
        if handler is None:
            log.info("page %s received outside any experiment; dropped", event)
            return
        handler(event)

    def make_clean(self) -> list[str]:
        """Put back what an experiment left, then check; DirtyEstateError if not."""
        done = self._restart_dead_mocks()
        done += self._reset_routes()
        done += self._restart_unsettled_mocks()
        done += self._reset_mock_faults()
        done += self._reset_dependencies()
        for change in done:
            log.warning("estate was not clean: %s", change)
        remaining = self.dirt()
        if remaining:
            raise DirtyEstateError(
                "the estate is not clean after the reset between experiments: "
                + "; ".join(remaining)
            )
        return done

    def dirt(self) -> list[str]:
        """Everything that differs from the estate as it started."""
        unhealthy = self._unhealthy_mocks()
        found = [f"mock {name} is not healthy" for name in unhealthy]
        for name, route in self.stack.proxy.proxies().items():
            if name not in self.estate.routes:
                continue
            if not route.get("enabled", True):
                found.append(f"route {name} is disabled")
            for toxic in route.get("toxics", []):
                found.append(f"route {name} has toxic {toxic['name']}")
        for name, client in self._admin_clients(skip=unhealthy):
            with client:
                faults = client.faults()
                version = client.version()
            found += [f"mock {name} has fault {f['id']} ({f['kind']})" for f in faults]
            if version != CONFIGURED_VERSION:
                found.append(f"mock {name} runs version {version}")
        found += self._dependency_drift(skip=unhealthy)
        found += [
            f"{service}->{dependency} breaker is {state}"
            for service, dependency, state in self._unsettled_breakers(unhealthy)
        ]
        found += [f"load process {pid} still runs" for pid in self._live_loads()]
        return found

    def _mock_names(self) -> list[str]:
        return list(self.estate.services) + list(self.estate.externals)

    def _admin_clients(self, skip=()) -> Iterator[tuple[str, MockAdminClient]]:
        urls = {**self.endpoints.services, **self.endpoints.externals}
        for name in self._mock_names():
            if name in skip:
                continue
            yield name, MockAdminClient(urls[name], self.endpoints.admin_token)

    def _unhealthy_mocks(self) -> list[str]:
        urls = {**self.endpoints.services, **self.endpoints.externals}
        unhealthy = []
        for name in self._mock_names():
            try:
                healthy = httpx.get(f"{urls[name]}/healthz", timeout=5).is_success
            except httpx.HTTPError:
                healthy = False
            if not healthy:
                unhealthy.append(name)
        return unhealthy

    def _restart_dead_mocks(self) -> list[str]:
        done = []
        for name in self._unhealthy_mocks():
            self.stack.restart_mock(name)
            done.append(f"mock {name} restarted")
        return done

    def _unsettled_breakers(self, skip=()) -> list[tuple[str, str, str]]:
        """Breakers not closed: an open one fails the next experiment's calls fast."""
        found = []
        for name, client in self._admin_clients(skip):
            with client:
                described = client.dependencies()
            for dependency, fields in described.items():
                state = fields.get("state", {}).get("breaker", {}).get("state")
                if state != "closed":
                    found.append((name, dependency, state))
        return found

    def _restart_unsettled_mocks(self) -> list[str]:
        # The admin API can change a breaker's policy but not its state, and
        # a breaker closes only after trial calls succeed: a restart is the
        # one sure way back to closed breakers, an empty retry budget and no
        # calls in flight. The mock's records are on disk and survive it.
        done = []
        for name in sorted({service for service, _, _ in self._unsettled_breakers()}):
            self.stack.restart_mock(name)
            done.append(f"mock {name} restarted: a breaker was not closed")
        return done

    def _reset_routes(self) -> list[str]:
        proxy = self.stack.proxy
        done = []
        for name, route in proxy.proxies().items():
            if name not in self.estate.routes:
                continue
            for toxic in route.get("toxics", []):
                proxy.remove_toxic(name, toxic["name"])
                done.append(f"route {name}: toxic {toxic['name']} removed")
            if not route.get("enabled", True):
                proxy.update_proxy(name, enabled=True)
                done.append(f"route {name} enabled again")
        return done

    def _reset_mock_faults(self) -> list[str]:
        done = []
        for name, client in self._admin_clients():
            with client:
                removed = client.clear_faults()
                if client.version() != CONFIGURED_VERSION:
                    client.rollback()
                    done.append(f"mock {name}: bad deploy rolled back")
            done += [f"mock {name}: fault {f['id']} removed" for f in removed]
        return done

    def _read_dependencies(self, skip=()) -> dict[str, dict]:
        settings = {}
        for name, client in self._admin_clients(skip):
            with client:
                described = client.dependencies()
            settings[name] = {
                dependency: _settings(fields)
                for dependency, fields in described.items()
            }
        return settings

    def _dependency_drift(self, skip=()) -> list[str]:
        now = self._read_dependencies(skip)
        drift = []
        for service, dependencies in self._dependencies.items():
            if service in skip:
                continue
            for dependency, configured in dependencies.items():
                current = now.get(service, {}).get(dependency)
                if current != configured:
                    drift.append(
                        f"{service}->{dependency} is {current}, configured {configured}"
                    )
        return drift

    def _reset_dependencies(self) -> list[str]:
        now = self._read_dependencies()
        done = []
        for name, client in self._admin_clients():
            with client:
                for dependency, configured in self._dependencies[name].items():
                    if now[name].get(dependency) == configured:
                        continue
                    client.set_dependency(dependency, configured)
                    done.append(f"{name}->{dependency} set back to {configured}")
        return done

    def _live_loads(self) -> list[int]:
        self._load_pids = [pid for pid in self._load_pids if _alive(pid)]
        return list(self._load_pids)

    def stop(self) -> None:
        """Stop everything the estate started; safe to call more than once."""
        if self.state is EstateState.STOPPED:
            return
        self._stop_all()
        self.state = EstateState.STOPPED

    def _stop_all(self) -> None:
        for name, stop in (
            ("stack", self.stack.stop),
            ("webhook sink", self.sink.stop),
            ("pager stub", self.pager.stop),
            ("log redaction", self._redact_logs),
        ):
            try:
                stop()
            except Exception:
                log.warning("could not stop the %s", name, exc_info=True)

    def _redact_logs(self) -> None:
        """Once the mocks, the proxy and the prober have stopped, their logs
        lose every secret and personal detail."""
        redactor = estate_redactor(self.estate, self.stack.admin_token)
        logs = self.work_dir / "logs"
        if logs.is_dir():
            redact_tree(logs, redactor)


def _settings(described: dict) -> dict:
    return {k: v for k, v in described.items() if k not in _DEPENDENCY_STATE_FIELDS}


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
