"""Cause and synthetic alerts fire on a real estate: the rules read real series.

The local stack runs the estate and the prober; a second Prometheus of the
test's own scrapes the same targets with the experiment's cause rules, so the
metric names, labels and bucket edges the rules expect are the ones the mocks
and the prober really export. Faults on three routes should fire exactly the
alerts that name them.
"""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Event, Thread

import httpx
import pytest

from harness.config import load_estate
from harness.observe import PrometheusAPI, WebhookSink, check_prometheus_config
from harness.observe._process import start_until_ready
from harness.observe.cause_rules import write_cause_rules
from harness.observe.prometheus import write_prometheus_config
from harness.slo.variant import experiment
from harness.stack.local import SYNTHETIC_JOB, Endpoints, LocalStack
from harness.stack.ports import LOOPBACK, free_ports
from harness.stack.process import ManagedProcess

pytestmark = pytest.mark.live

REPO = Path(__file__).resolve().parents[2]
CLAIMS_PER_S = 5
SLOW_CUSTOMER_MS = 700  # slower than half the 1 s timeout, never timing out
FIRE_WITHIN_S = 45.0
EXPECTED = {
    ("DependencyLatency", "claims-api", "customer-api"),
    ("DependencyErrors", "claims-api", "fraud-detection"),
    ("CircuitBreakerOpen", "claims-api", "fraud-detection"),
    ("SyntheticJourneyFailing", "policy-api", "look_up_my_policy"),
    ("SyntheticJourneyFailing", "claims-api", "check_a_claim_status"),
}
NEVER = {
    ("DependencyErrors", "claims-api", "customer-api"),
    ("SyntheticJourneyFailing", "customer-api", "review_my_profile"),
    ("SyntheticJourneyFailing", "payment-api", "see_recent_transactions"),
}


@pytest.fixture
def running(tmp_path) -> Iterator[tuple[LocalStack, Endpoints]]:
    with WebhookSink() as sink:
        stack = LocalStack(load_estate(REPO / "config"), tmp_path / "stack", sink.url)
        try:
            yield stack, stack.start()
        finally:
            stack.stop()


@pytest.fixture
def cause_prometheus(running, binaries, tmp_path) -> Iterator[PrometheusAPI]:
    """A Prometheus of the test's own with the cause rules, on the same targets."""
    stack, endpoints = running
    estate = stack.estate
    workdir = tmp_path / "cause-prometheus"
    rules = write_cause_rules(
        workdir / "rules.yml", estate, experiment(estate.observability)
    )
    jobs = {name: [f"{LOOPBACK}:{port}"] for name, port in stack.mock_ports.items()}
    jobs[SYNTHETIC_JOB] = [httpx.URL(endpoints.synthetic).netloc.decode()]
    config = write_prometheus_config(
        workdir / "prometheus.yml",
        estate.observability,
        jobs,
        [rules],
        endpoints.alertmanager,
    )
    check_prometheus_config(binaries, config)
    url = f"http://{LOOPBACK}:{free_ports(1)[0]}"
    process = ManagedProcess(
        "cause-prometheus",
        [
            str(binaries.prometheus),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address={httpx.URL(url).netloc.decode()}",
        ],
        workdir / "prometheus.out",
    )
    start_until_ready(process, f"{url}/-/ready", 30)
    try:
        with PrometheusAPI(url) as api:
            api.wait_targets_up(list(jobs), timeout_s=30)
            yield api
    finally:
        process.stop()


class ClaimsLoad:
    """Files claims through claims-api's front route at a fixed rate."""

    def __init__(self, front_url: str):
        self.url = f"{front_url}/claims"
        self.stopping = Event()
        self.pool = ThreadPoolExecutor(max_workers=4 * CLAIMS_PER_S)
        self.client = httpx.Client(timeout=10)
        self.thread = Thread(target=self._arrive, daemon=True)

    def __enter__(self) -> "ClaimsLoad":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    def _arrive(self) -> None:
        number = 0
        while not self.stopping.wait(1 / CLAIMS_PER_S):
            number += 1
            self.pool.submit(self._file, number % 2000 + 1)

    def _file(self, number: int) -> None:
        incident = datetime.now(UTC).date() - timedelta(days=1)
        claim = {
            "policy_id": f"POL-{number:06d}",
            "customer_id": f"CUST-{number:06d}",
            "amount_cents": 10_000,
            "description": "Windscreen cracked by a stone",
            "incident_date": incident.isoformat(),
        }
        try:
            self.client.post(self.url, json=claim)
        except httpx.HTTPError:
            pass  # The faults make claims fail; the alerts are what is tested.


def _firing(api: PrometheusAPI) -> set[tuple[str, str, str]]:
    return {
        (
            alert["labels"]["alertname"],
            alert["labels"]["service"],
            alert["labels"].get("dependency") or alert["labels"].get("journey", ""),
        )
        for alert in api.alerts()
        if alert["state"] == "firing"
    }


def test_faults_on_three_routes_fire_the_alerts_that_name_them(
    running, cause_prometheus
):
    stack, endpoints = running
    proxy = stack.proxy
    first_fired: dict[tuple, float] = {}
    ever_fired: set[tuple] = set()

    with ClaimsLoad(endpoints.front["claims-api"]):
        injected = time.monotonic()
        proxy.add_toxic(
            "claims-api_to_customer-api", "latency", {"latency": SLOW_CUSTOMER_MS}
        )
        proxy.update_proxy("claims-api_to_fraud-detection", enabled=False)
        proxy.update_proxy("client_to_policy-api", enabled=False)
        while (
            not EXPECTED <= ever_fired and time.monotonic() < injected + FIRE_WITHIN_S
        ):
            time.sleep(0.5)
            firing = _firing(cause_prometheus)
            for alert in firing - ever_fired:
                first_fired[alert] = round(time.monotonic() - injected, 1)
            ever_fired |= firing

    print("\nseconds from injection to firing:", sorted(first_fired.items()))
    assert EXPECTED <= ever_fired, sorted(first_fired.items())
    assert not (NEVER & ever_fired)
