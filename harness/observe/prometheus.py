"""A real Prometheus for an experiment: its config, its process, its HTTP API."""

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from harness.config import Estate, Observability
from harness.errors import ConfigError, StackError
from harness.observe._process import start_until_ready
from harness.observe.binaries import Binaries, find_binaries
from harness.observe.checks import check_prometheus_config
from harness.observe.durations import render_duration
from harness.observe.rules import render_rules
from harness.stack.ports import LOOPBACK
from harness.stack.process import ManagedProcess

log = logging.getLogger(__name__)

Sample = tuple[dict[str, str], float]


def render_prometheus_config(
    obs: Observability,
    scrape_jobs: Mapping[str, Sequence[str]],
    rule_files: Sequence[Path],
    alertmanager_url: str,
) -> str:
    """prometheus.yml as YAML: one static job per entry of {job: [host:port]}."""
    scrape_interval = render_duration(obs.scrape_interval_s, "scrape_interval_s")
    document = {
        "global": {
            "scrape_interval": scrape_interval,
            # The default timeout (10s) exceeds a short interval, which
            # Prometheus refuses; a scrape may use the whole interval.
            "scrape_timeout": scrape_interval,
            "evaluation_interval": render_duration(
                obs.evaluation_interval_s, "evaluation_interval_s"
            ),
        },
        "rule_files": [str(Path(path).resolve()) for path in rule_files],
        "alerting": {"alertmanagers": [_alertmanager_target(alertmanager_url)]},
        "scrape_configs": [
            _scrape_job(job, targets) for job, targets in scrape_jobs.items()
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def write_prometheus_config(
    path: Path,
    obs: Observability,
    scrape_jobs: Mapping[str, Sequence[str]],
    rule_files: Sequence[Path],
    alertmanager_url: str,
) -> Path:
    """Write render_prometheus_config() to path and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        render_prometheus_config(obs, scrape_jobs, rule_files, alertmanager_url)
    )
    return path


def _scrape_job(job: str, targets: Sequence[str]) -> dict:
    if isinstance(targets, str) or not targets:
        raise ConfigError(
            f"scrape job {job!r} has targets {targets!r}; expected a non-empty "
            "list of host:port strings, such as ['127.0.0.1:8001']"
        )
    return {
        "job_name": job,
        "metrics_path": "/metrics",
        "static_configs": [{"targets": list(targets)}],
    }


def _alertmanager_target(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.port:
        raise ConfigError(
            f"alertmanager_url is {url!r}; expected http://host:port, such as "
            "http://127.0.0.1:9093"
        )
    target = {
        "scheme": parts.scheme,
        "api_version": "v2",
        "static_configs": [{"targets": [parts.netloc]}],
    }
    if parts.path.strip("/"):
        target["path_prefix"] = parts.path
    return target


class PrometheusProcess:
    """One Prometheus on 127.0.0.1; its config, rules and TSDB live in workdir.

    The rule file is rendered when the object is built, so a bad `without`
    name fails before anything starts; `process` exists from then on, so a
    caller can register it for clean-up before calling start().
    """

    def __init__(
        self,
        workdir: Path,
        port: int,
        estate: Estate,
        scrape_jobs: Mapping[str, Sequence[str]],
        alertmanager_url: str,
        without_alerts: Iterable[str] = (),
        log_path: Path | None = None,
        binaries: Binaries | None = None,
    ):
        self.binaries = binaries or find_binaries()
        self.workdir = Path(workdir)
        self.port = port
        self.obs = estate.observability
        self.rules_file = self.workdir / "rules.yml"
        self.config_file = self.workdir / "prometheus.yml"
        self.data_dir = self.workdir / "tsdb"
        self._rules_text = render_rules(estate, without_alerts)
        self._config_text = render_prometheus_config(
            self.obs, scrape_jobs, [self.rules_file], alertmanager_url
        )
        self.process = ManagedProcess(
            "prometheus", self.argv(), Path(log_path or self.workdir / "prometheus.log")
        )

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def argv(self) -> list[str]:
        resend = render_duration(self.obs.resend_delay_s, "resend_delay_s")
        return [
            str(self.binaries.prometheus),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            # Alert links ($externalURL) must point where Prometheus listens,
            # not at the machine's host name.
            f"--web.external-url={self.url}",
            f"--rules.alert.resend-delay={resend}",
        ]

    def start(self, timeout_s: float = 30.0) -> "PrometheusProcess":
        """Write and check the files, start Prometheus, wait for /-/ready."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.rules_file.write_text(self._rules_text)
        self.config_file.write_text(self._config_text)
        check_prometheus_config(self.binaries, self.config_file)
        start_until_ready(self.process, f"{self.url}/-/ready", timeout_s)
        return self

    def stop(self) -> int | None:
        """Stop the process by its PID; return its exit code."""
        return self.process.stop()

    def api(self, timeout_s: float = 5.0) -> "PrometheusAPI":
        return PrometheusAPI(self.url, timeout_s)

    def __enter__(self) -> "PrometheusProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class PrometheusAPI:
    """A client of Prometheus's HTTP API; every call has a timeout."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout_s,
            transport=transport,
            # Prometheus of a run is on 127.0.0.1: proxy variables of the
            # environment must not reroute queries meant for it.
            trust_env=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "PrometheusAPI":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def query(self, expr: str) -> list[Sample]:
        """Evaluate expr now; return (labels, value) per series."""
        data = self._get("/api/v1/query", {"query": expr})
        kind = data.get("resultType")
        if kind == "scalar":
            return [({}, float(data["result"][1]))]
        if kind != "vector":
            raise StackError(
                f"query {expr!r} returned a {kind}; expected an instant vector "
                "or a scalar"
            )
        return [(item["metric"], float(item["value"][1])) for item in data["result"]]

    def query_range(
        self, expr: str, start_unix: float, end_unix: float, step_s: float
    ) -> list[tuple[dict, list[tuple[float, float]]]]:
        """Evaluate expr at each step from start to end; (labels, points) per series."""
        params = {
            "query": expr,
            "start": f"{start_unix:.3f}",
            "end": f"{end_unix:.3f}",
            "step": f"{step_s:g}",
        }
        data = self._get("/api/v1/query_range", params)
        if data.get("resultType") != "matrix":
            raise StackError(
                f"range query {expr!r} returned a {data.get('resultType')}; "
                "expected a matrix"
            )
        return [
            (item["metric"], [(float(t), float(v)) for t, v in item["values"]])
            for item in data["result"]
        ]

    def scalar(self, expr: str) -> float | None:
        """The single value of expr, or None when no series matches."""
        samples = self.query(expr)
        if len(samples) > 1:
            raise StackError(
                f"query {expr!r} returned {len(samples)} series "
                f"({[labels for labels, _ in samples]}); expected at most one, "
                "so aggregate it (sum, max) first"
            )
        return samples[0][1] if samples else None

    def alerts(self) -> list[dict]:
        """Alerts Prometheus holds now, pending and firing."""
        return self._get("/api/v1/alerts")["alerts"]

    def targets(self) -> list[dict]:
        """Active scrape targets with their health and last error."""
        return self._get("/api/v1/targets", {"state": "active"})["activeTargets"]

    def wait_targets_up(
        self, jobs: Sequence[str], timeout_s: float, poll_s: float = 0.1
    ) -> float:
        """Wait until every target of every job was scraped; return seconds waited.

        Prometheus applies discovered targets in batches every few seconds, so
        the first scrape of a fresh server comes about 5 s after it is ready
        (5.0-5.8 s measured with Prometheus 2.42).
        """
        started = time.monotonic()
        deadline = started + timeout_s
        while True:
            health = _health_by_job(self.targets(), jobs)
            if _all_up(health):
                waited = time.monotonic() - started
                log.info("scrape targets up: jobs=%s waited_s=%.2f", list(jobs), waited)
                return waited
            if time.monotonic() >= deadline:
                raise StackError(
                    f"scrape targets not up within {timeout_s} s at {self.base_url}: "
                    f"{_describe_health(health)}"
                )
            time.sleep(poll_s)

    def _get(self, path: str, params: dict | None = None) -> Any:
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise StackError(
                f"Prometheus at {self.base_url} did not answer GET {path}: {exc!r}"
            ) from exc
        return _payload_data(response, path)


def _payload_data(response: httpx.Response, path: str) -> Any:
    try:
        body = response.json()
    except ValueError as exc:
        raise StackError(
            f"Prometheus answered GET {path} with HTTP {response.status_code} and "
            f"a body that is not JSON: {response.text[:200]!r}"
        ) from exc
    if response.is_error or body.get("status") != "success":
        raise StackError(
            f"Prometheus refused GET {path} ({response.url.params}) with HTTP "
            f"{response.status_code}: {body.get('errorType')}: {body.get('error')}"
        )
    return body["data"]


def _health_by_job(
    targets: list[dict], jobs: Sequence[str]
) -> dict[str, list[tuple[str, str]]]:
    health: dict[str, list[tuple[str, str]]] = {job: [] for job in jobs}
    for target in targets:
        job = target.get("labels", {}).get("job") or target.get("scrapePool")
        if job in health:
            health[job].append((target.get("health", ""), target.get("lastError", "")))
    return health


def _all_up(health: dict[str, list[tuple[str, str]]]) -> bool:
    return all(
        states and all(state == "up" for state, _ in states)
        for states in health.values()
    )


def _describe_health(health: dict[str, list[tuple[str, str]]]) -> str:
    parts = []
    for job, states in health.items():
        if not states:
            parts.append(f"{job}: no target yet")
        for state, error in states:
            parts.append(
                f"{job}: {state or 'unknown'}" + (f" ({error})" if error else "")
            )
    return "; ".join(parts)
