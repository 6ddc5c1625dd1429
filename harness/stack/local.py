"""The estate as local processes on 127.0.0.1: fault proxy, mocks, monitoring.

Start-up order matters: the proxy routes are created first (their listen ports
are what every mock is told to call), then the mocks, then the synthetic
prober (which walks the mocks' front routes), then Alertmanager and
Prometheus, which only count as up once every scrape target answers.
"""

import enum
import json
import logging
import secrets
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from harness.config import Estate, secondary_name
from harness.errors import ProxyAPIError, StackError
from harness.observe.alertmanager import AlertmanagerProcess
from harness.observe.binaries import find_binaries
from harness.observe.prometheus import PrometheusAPI, PrometheusProcess
from harness.private_state import private_dir, remove_private_dir
from harness.proxy.client import ToxiproxyClient
from harness.slo.variant import experiment
from harness.stack.ports import LOOPBACK, free_ports
from harness.stack.process import ManagedProcess, stop_all
from harness.stack.proxy_choice import ProxyChoice, choose_proxy

log = logging.getLogger(__name__)

# The Prometheus job that scrapes the fault proxy's own metrics.
PROXY_JOB = "fault-proxy"
# The Prometheus job that scrapes the synthetic prober.
SYNTHETIC_JOB = "synthetic"


def _serves_proxy_metrics(proxy_url: str) -> bool:
    """Tell whether the proxy answers /metrics (a real Toxiproxy may not)."""
    try:
        answer = httpx.get(f"{proxy_url}/metrics", timeout=5)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and "toxiproxy_" in answer.text


def embedded_proxy_argv(port: int, host: str = LOOPBACK) -> list[str]:
    """The command that serves the embedded fault proxy's API on host:port."""
    return [sys.executable, "-m", "harness.proxy", "--host", host, "--port", str(port)]


def synthetic_argv(estate: Estate, port: int, targets: dict[str, str]) -> list[str]:
    """The command that runs the synthetic prober at the experiment's cadence.

    Its interval is compressed like the alert windows that count its runs; its
    timeout is not, because experiments do not compress latency.
    """
    synthetics = estate.synthetics
    interval_s = experiment(estate.observability).seconds(synthetics.interval_s)
    argv = [sys.executable, "-m", "harness.observe.synthetic", "--port", str(port)]
    argv += ["--host", LOOPBACK, "--config-dir", str(estate.config_dir)]
    argv += [
        "--interval-s",
        f"{interval_s:g}",
        "--timeout-s",
        f"{synthetics.timeout_s:g}",
    ]
    for name, url in targets.items():
        argv += ["--target", f"{name}={url}"]
    return argv


class StackState(enum.Enum):
    NEW = "new"  # nothing started yet
    STARTING = "starting"  # processes are being started; stop() cleans up
    UP = "up"  # every part answered its readiness check
    STOPPED = "stopped"  # every process this stack started has exited
    FAILED = "failed"  # start-up failed; what had started was stopped


@dataclass
class Endpoints:
    """Where everything of one running estate can be reached."""

    proxy_api: str
    proxy_kind: str
    services: dict[str, str]
    externals: dict[str, str]
    routes: dict[str, str]
    front: dict[str, str]
    prometheus: str
    alertmanager: str
    webhook: str
    admin_token: str
    run_dir: str
    pids: dict[str, int] = field(default_factory=dict)
    pager: str | None = None  # the pager stub Alertmanager pages, if any
    # The synthetic prober's /metrics, or "" when no journey is declared.
    synthetic: str = ""
    # Each external's secondary instance, by the external's name.
    secondaries: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


@dataclass
class Monitoring:
    """One Prometheus and one Alertmanager, started for one experiment."""

    prometheus: str = ""
    alertmanager: str = ""
    processes: list[ManagedProcess] = field(default_factory=list)

    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.processes if p.pid}

    def stop(self) -> None:
        """Stop both, newest first; a failure to stop one is logged, not raised."""
        stop_all(self.processes)

    def running(self) -> list[str]:
        return [p.name for p in self.processes if p.running()]


class LocalStack:
    """Starts and stops one estate; each instance owns its ports and folders."""

    def __init__(
        self,
        estate: Estate,
        run_dir: Path,
        webhook_url: str,
        without_alerts: tuple[str, ...] = (),
        proxy_choice: ProxyChoice | None = None,
        pager_url: str | None = None,
    ):
        self.estate = estate
        # Absolute: the mocks take their folders from it, and refuse relative ones.
        self.run_dir = Path(run_dir).resolve()
        self.webhook_url = webhook_url
        # Without a pager, Alertmanager notifies the webhook alone.
        self.pager_url = pager_url
        self.without_alerts = without_alerts
        self.proxy_choice = proxy_choice or choose_proxy()
        self.state = StackState.NEW
        self.admin_token = secrets.token_urlsafe(24)
        self._private_dir: Path | None = None
        self.processes: list[ManagedProcess] = []
        self.created_routes: list[str] = []
        self.proxy: ToxiproxyClient | None = None
        self.endpoints: Endpoints | None = None
        self.mock_ports: dict[str, int] = {}
        # Second instances started by scale_out(), by the service they serve.
        self.extra_instances: dict[str, ManagedProcess] = {}
        self._route_listens: dict[str, str] = {}
        # Ports of the externals' secondary instances, by the external's name.
        self.secondary_ports: dict[str, int] = {}
        # The monitoring start() made; an experiment's own is stopped by it.
        self.monitoring: Monitoring | None = None
        self._synthetic = ""
        self._proxy_url = ""
        self._free = None
        # Children die with the thread that spawned them (PR_SET_PDEATHSIG), so
        # mocks started again while the estate runs are spawned from this one
        # thread, which lives until stop(), never from a short-lived caller's.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="stack-spawner")

    @property
    def private_dir(self) -> Path:
        """Where mock configs and data live: private, outside the reports tree."""
        if self._private_dir is None:
            self._private_dir = private_dir(self.run_dir, "estate")
        return self._private_dir

    def start(self) -> Endpoints:
        """Start the whole estate: the lasting part, then its monitoring."""
        self.start_base()
        try:
            self.monitoring = self.start_monitoring(
                self.run_dir, self.webhook_url, self.pager_url, self.without_alerts
            )
        except BaseException:
            self.state = StackState.FAILED
            self.stop()
            raise
        self.endpoints.prometheus = self.monitoring.prometheus
        self.endpoints.alertmanager = self.monitoring.alertmanager
        self.endpoints.pids.update(self.monitoring.pids())
        return self.endpoints

    def start_base(self) -> Endpoints:
        """Start proxy, mocks and prober; monitoring comes from start_monitoring."""
        if self.state is not StackState.NEW:
            raise StackError(f"stack already used (state {self.state.value})")
        self.state = StackState.STARTING
        try:
            self.endpoints = self._start_base()
        except BaseException:
            self.state = StackState.FAILED
            self.stop()
            raise
        self.state = StackState.UP
        return self.endpoints

    def _start_base(self) -> Endpoints:
        # Fail before starting anything when Prometheus or Alertmanager is missing.
        find_binaries()
        proxy_url = self._start_proxy()
        mock_ports = {name: self._port() for name in self._mock_names()}
        routes = self._create_routes(mock_ports)
        self._start_mocks(mock_ports, routes)
        self._synthetic = self._start_synthetic(mock_ports, routes)
        self._proxy_url = proxy_url
        endpoints = self._endpoints(proxy_url, mock_ports, routes, "", "")
        endpoints.synthetic = (
            f"http://{self._synthetic}/metrics" if self._synthetic else ""
        )
        return endpoints

    def start_monitoring(
        self,
        run_dir: Path,
        webhook_url: str,
        pager_url: str | None = None,
        without_alerts: tuple[str, ...] = (),
    ) -> "Monitoring":
        """A fresh Alertmanager and Prometheus, with their data under run_dir.

        Fresh data directories mean no alert state or series history of an
        earlier experiment can reach the experiment that runs next.
        """
        if self.state is not StackState.UP:
            raise StackError(
                f"monitoring needs a running stack (state {self.state.value})"
            )
        monitoring = Monitoring()
        try:
            alertmanager_port, prometheus_port = free_ports(2)
            monitoring.alertmanager = self._start_alertmanager(
                monitoring, Path(run_dir), alertmanager_port, webhook_url, pager_url
            )
            monitoring.prometheus = self._start_prometheus(
                monitoring, Path(run_dir), prometheus_port, without_alerts
            )
        except BaseException:
            monitoring.stop()
            raise
        return monitoring

    def _port(self) -> int:
        """A port distinct from every other this stack uses.

        All are reserved in one batch up front: ports asked for one at a time
        may be handed out twice, and a route's listen port chosen by the proxy
        could take a mock's port before the mock binds it.
        """
        if self._free is None:
            # Besides mocks and routes: proxy API and the synthetic prober.
            count = len(self._mock_names()) + len(self.estate.routes) + 2
            count += len(self.estate.secondaries) + len(self.estate.secondary_routes())
            self._free = iter(free_ports(count))
        return next(self._free)

    def _mock_names(self) -> list[str]:
        return list(self.estate.services) + list(self.estate.externals)

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        process = ManagedProcess(name, argv, self.run_dir / "logs" / f"{name}.out")
        self.processes.append(process)
        return process.start()

    def _start_proxy(self) -> str:
        choice = self.proxy_choice
        if choice.kind == "external":
            url = choice.url
        else:
            port = self._port()
            url = f"http://{LOOPBACK}:{port}"
            if choice.kind == "toxiproxy-server":
                argv = [choice.executable, "-host", LOOPBACK, "-port", str(port)]
            else:
                argv = embedded_proxy_argv(port)
            self._spawn("fault-proxy", argv).wait_http_ok(f"{url}/version")
        self.proxy = ToxiproxyClient(url)
        if choice.kind == "external":
            self._check_external(url)
        log.info("fault proxy ready: %s (%s)", url, choice.kind)
        return url

    def _check_external(self, url: str) -> None:
        try:
            self.proxy.version()
        except ProxyAPIError as exc:
            raise StackError(
                f"TOXIPROXY_URL is {url!r}, but no Toxiproxy API answers there "
                f"({exc.message}); start Toxiproxy or unset TOXIPROXY_URL to use "
                "the embedded proxy"
            ) from exc

    def _create_routes(self, mock_ports: dict[str, int]) -> dict[str, str]:
        existing = self.proxy.proxies()
        clash = sorted(set(existing) & set(self.estate.routes))
        if clash:
            raise StackError(
                f"the fault proxy at {self.proxy.base_url} already has routes "
                f"{', '.join(clash)}; another run may be using it. Delete them "
                "or point TOXIPROXY_URL at a server of your own."
            )
        listens = {}
        for name, route in self.estate.routes.items():
            created = self.proxy.create_proxy(
                name=name,
                listen=f"{LOOPBACK}:{self._port()}",
                upstream=f"{LOOPBACK}:{mock_ports[route.upstream]}",
            )
            self.created_routes.append(name)
            listens[name] = created["listen"]
        return {**listens, **self._create_secondary_routes(mock_ports)}

    def _create_secondary_routes(self, mock_ports: dict[str, int]) -> dict[str, str]:
        listens = {}
        for name, (_, external) in self.estate.secondary_routes().items():
            if external not in mock_ports:
                continue
            if external not in self.secondary_ports:
                self.secondary_ports[external] = self._port()
            created = self.proxy.create_proxy(
                name=name,
                listen=f"{LOOPBACK}:{self._port()}",
                upstream=f"{LOOPBACK}:{self.secondary_ports[external]}",
            )
            self.created_routes.append(name)
            listens[name] = created["listen"]
        return listens

    def _mock_config(self, name: str, port: int, routes: dict[str, str]) -> dict:
        dependencies = {}
        service = self.estate.services.get(name)
        for upstream in service.dependencies if service else ():
            route = self.estate.route_for(name, upstream)
            dependencies[upstream] = {
                "url": f"http://{routes[route.name]}",
                "timeout_s": route.timeout_s,
                "resilience": route.resilience,
            }
            secondary = routes.get(f"{name}_to_{secondary_name(upstream)}")
            if secondary:
                dependencies[upstream]["secondary_url"] = f"http://{secondary}"
        return {
            "service": name,
            "host": LOOPBACK,
            "port": port,
            # Customer records and the admin token stay out of the reports
            # tree: see harness/private_state.py.
            "data_dir": str(self.private_dir / "data"),
            "log_dir": str(self.run_dir / "logs"),
            "admin_token": self.admin_token,
            "latency_buckets_s": self.estate.latency_buckets_s(),
            "dependencies": dependencies,
            "seed": {
                "random_seed": self.estate.seed.random_seed,
                "customers": self.estate.seed.customers,
            },
            "version": "1.0.0",
        }

    def _start_mocks(self, mock_ports: dict[str, int], routes: dict[str, str]) -> None:
        config_dir = self.private_dir / "mock-config"
        config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.mock_ports.update(mock_ports)
        self._route_listens.update(routes)
        started = []
        for name, port in mock_ports.items():
            path = config_dir / f"{name}.json"
            path.write_text(json.dumps(self._mock_config(name, port, routes), indent=2))
            argv = [sys.executable, "-m", "mocks", "serve", "--config", str(path)]
            started.append((self._spawn(name, argv), port))
        for external, port in self.secondary_ports.items():
            # Same service and data directory as the primary: one set of records.
            path = config_dir / f"{secondary_name(external)}.json"
            path.write_text(json.dumps(self._mock_config(external, port, routes)))
            argv = [sys.executable, "-m", "mocks", "serve", "--config", str(path)]
            started.append((self._spawn(secondary_name(external), argv), port))
        for process, port in started:
            process.wait_http_ok(f"http://{LOOPBACK}:{port}/healthz", timeout_s=30)

    def restart_mock(self, name: str, timeout_s: float = 30) -> ManagedProcess:
        """Start one mock again with its config file: same port, same data dir.

        A mock that is still running is stopped by its PID first; one that has
        exited (a crash fault) is only started. Returns once /healthz answers.
        """
        if name not in self.mock_ports or self.state is StackState.STOPPED:
            known = ", ".join(self.mock_ports) or "(none started)"
            raise StackError(
                f"cannot restart mock {name!r} (stack {self.state.value}); "
                f"mocks of this stack: {known}"
            )
        old = next(p for p in reversed(self.processes) if p.name == name)
        exit_code = old.stop()
        log.info("restarting mock %s (pid %s exited with %s)", name, old.pid, exit_code)
        self.processes.remove(old)
        process = self._spawner.submit(self._spawn, name, old.argv).result()
        port = self.mock_ports[name]
        process.wait_http_ok(f"http://{LOOPBACK}:{port}/healthz", timeout_s=timeout_s)
        if self.endpoints is not None:
            self.endpoints.pids[name] = process.pid
        return process

    def scale_out(self, name: str, timeout_s: float = 30) -> ManagedProcess:
        """Start a second instance of a service and balance its routes over both.

        The instance shares the first one's data directory, so both serve the
        same SQLite records. Balancing is an extension of the embedded fault
        proxy; Toxiproxy cannot spread one route over two upstreams.
        """
        self._check_can_scale(name)
        port = free_ports(1)[0]
        config = self._mock_config(name, port, self._route_listens)
        path = self.private_dir / "mock-config" / f"{name}-2.json"
        path.write_text(json.dumps(config, indent=2))
        argv = [sys.executable, "-m", "mocks", "serve", "--config", str(path)]
        process = self._spawner.submit(self._spawn, f"{name}-2", argv).result()
        self.extra_instances[name] = process
        process.wait_http_ok(f"http://{LOOPBACK}:{port}/healthz", timeout_s=timeout_s)
        for route in self._routes_to(name):
            self.proxy.update_proxy(route, extra_upstreams=[f"{LOOPBACK}:{port}"])
        log.info("scaled out %s: second instance on port %s", name, port)
        return process

    def scale_in(self, name: str) -> None:
        """Send every route back to the first instance and stop the second."""
        process = self.extra_instances.pop(name, None)
        if process is None:
            raise StackError(f"{name} has no second instance to stop")
        for route in self._routes_to(name):
            self.proxy.update_proxy(route, extra_upstreams=[])
        process.stop()
        self.processes.remove(process)

    def _check_can_scale(self, name: str) -> None:
        if name not in self.estate.services or self.state is StackState.STOPPED:
            raise StackError(
                f"cannot scale out {name!r} (stack {self.state.value}); services: "
                f"{', '.join(self.estate.services)}"
            )
        if name in self.extra_instances:
            raise StackError(f"{name} already runs a second instance")
        if self.proxy is None or self.proxy_choice.kind != "embedded":
            kind = self.proxy_choice.kind if self.proxy else "no proxy"
            raise StackError(
                f"cannot scale out {name}: balancing a route over two instances "
                f"needs the embedded fault proxy, and this estate uses {kind}; "
                "unset TOXIPROXY_URL and remove toxiproxy-server from PATH to use it"
            )

    def _routes_to(self, name: str) -> list[str]:
        return [
            route.name
            for route in self.estate.routes.values()
            if route.upstream == name and route.name in self._route_listens
        ]

    def _start_synthetic(
        self, mock_ports: dict[str, int], routes: dict[str, str]
    ) -> str:
        """Start the prober on the services' front routes; return host:port or ""."""
        synthetics = self.estate.synthetics
        if not synthetics.journeys:
            return ""
        port = self._port()
        argv = synthetic_argv(
            self.estate, port, self._front_targets(mock_ports, routes)
        )
        process = self._spawn("synthetic", argv)
        process.wait_http_ok(f"http://{LOOPBACK}:{port}/metrics")
        return f"{LOOPBACK}:{port}"

    def _front_targets(
        self, mock_ports: dict[str, int], routes: dict[str, str]
    ) -> dict[str, str]:
        """Each service's front route, or the mock itself without front routes."""
        targets = {}
        for name in self.estate.services:
            front = routes.get(f"client_to_{name}")
            targets[name] = f"http://{front or f'{LOOPBACK}:{mock_ports[name]}'}"
        return targets

    def _start_alertmanager(
        self,
        monitoring: "Monitoring",
        run_dir: Path,
        port: int,
        webhook_url: str,
        pager_url: str | None,
    ) -> str:
        alertmanager = AlertmanagerProcess(
            workdir=run_dir / "alertmanager",
            port=port,
            webhook_url=webhook_url,
            observability=self.estate.observability,
            log_path=run_dir / "logs" / "alertmanager.out",
            estate=self.estate,
            pager_url=pager_url,
        )
        monitoring.processes.append(alertmanager.process)
        alertmanager.start()
        return alertmanager.url

    def _scrape_jobs(self) -> dict[str, list[str]]:
        jobs = {name: [f"{LOOPBACK}:{port}"] for name, port in self.mock_ports.items()}
        if self._synthetic:
            jobs[SYNTHETIC_JOB] = [self._synthetic]
        if _serves_proxy_metrics(self._proxy_url):
            # Bytes per direction and active toxics show when a fault was live.
            jobs[PROXY_JOB] = [urlsplit(self._proxy_url).netloc]
        else:
            log.info(
                "the fault proxy at %s has no /metrics; it is not scraped",
                self._proxy_url,
            )
        return jobs

    def _start_prometheus(
        self,
        monitoring: "Monitoring",
        run_dir: Path,
        port: int,
        without_alerts: tuple[str, ...],
    ) -> str:
        jobs = self._scrape_jobs()
        prometheus = PrometheusProcess(
            workdir=run_dir / "prometheus",
            port=port,
            estate=self.estate,
            scrape_jobs=jobs,
            alertmanager_url=monitoring.alertmanager,
            without_alerts=without_alerts,
            log_path=run_dir / "logs" / "prometheus.out",
        )
        monitoring.processes.append(prometheus.process)
        prometheus.start()
        with PrometheusAPI(prometheus.url) as api:
            api.wait_targets_up(list(jobs), timeout_s=30)
        return prometheus.url

    def _endpoints(
        self, proxy_url, mock_ports, routes, prometheus_url, alertmanager_url
    ) -> Endpoints:
        def url(name: str) -> str:
            return f"http://{LOOPBACK}:{mock_ports[name]}"

        return Endpoints(
            proxy_api=proxy_url,
            proxy_kind=self.proxy_choice.kind,
            services={name: url(name) for name in self.estate.services},
            externals={name: url(name) for name in self.estate.externals},
            routes=routes,
            front={
                name: f"http://{routes[f'client_to_{name}']}"
                for name in self.estate.services
                if f"client_to_{name}" in routes
            },
            prometheus=prometheus_url,
            alertmanager=alertmanager_url,
            webhook=self.webhook_url,
            admin_token=self.admin_token,
            run_dir=str(self.run_dir),
            pids={p.name: p.pid for p in self.processes if p.pid},
            pager=self.pager_url,
            secondaries={
                name: f"http://{LOOPBACK}:{port}"
                for name, port in self.secondary_ports.items()
            },
        )

    def stop(self) -> None:
        """Delete the routes this stack made and stop its processes, newest first."""
        if self.state is StackState.STOPPED:
            return
        if self.proxy_choice.kind == "external" and self.proxy is not None:
            self._delete_routes()
        if self.monitoring is not None:
            self.monitoring.stop()
        stop_all(self.processes)
        self._spawner.shutdown(wait=False)
        self.state = StackState.STOPPED
        # The mocks' records and configs (with the admin token) go with them.
        if self._private_dir is not None:
            remove_private_dir(self.run_dir, "estate")

    def _delete_routes(self) -> None:
        for name in self.created_routes:
            try:
                self.proxy.delete_proxy(name)
            except Exception:
                log.warning(
                    "could not delete route %s on %s",
                    name,
                    self.proxy.base_url,
                    exc_info=True,
                )
