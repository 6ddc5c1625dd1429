"""The local stack probes the front routes synthetically; Prometheus scrapes it."""

import time
from pathlib import Path

import pytest

from harness.config import load_estate
from harness.observe import PrometheusAPI, WebhookSink
from harness.stack.local import SYNTHETIC_JOB, LocalStack

pytestmark = pytest.mark.live

REPO = Path(__file__).resolve().parents[2]
RUNS_WITHIN_S = 20.0


def _passing_journeys(api: PrometheusAPI) -> set[str]:
    samples = api.query(
        'sum by (journey) (synthetic_journey_runs_total{job="synthetic",'
        'result="success"}) > 0'
    )
    return {labels["journey"] for labels, _ in samples}


def test_prometheus_scrapes_journeys_walked_through_the_front_routes(tmp_path):
    estate = load_estate(REPO / "config")
    journeys = set(estate.synthetics.journeys)
    passing: set[str] = set()
    with WebhookSink() as sink:
        stack = LocalStack(estate, tmp_path, sink.url)
        try:
            endpoints = stack.start()
            prober = next(p for p in stack.processes if p.name == "synthetic")
            with PrometheusAPI(endpoints.prometheus) as api:
                deadline = time.monotonic() + RUNS_WITHIN_S
                while passing != journeys and time.monotonic() < deadline:
                    time.sleep(0.5)
                    passing = _passing_journeys(api)
                up = api.scalar(f'up{{job="{SYNTHETIC_JOB}"}}')
        finally:
            stack.stop()

    targets = [prober.argv[i + 1] for i, a in enumerate(prober.argv) if a == "--target"]
    assert passing == journeys
    assert up == 1
    assert endpoints.synthetic.endswith("/metrics")
    assert sorted(targets) == sorted(f"{n}={url}" for n, url in endpoints.front.items())
    assert prober.popen.returncode == 0, prober.log_tail()
