"""The metrics cause alerts read: dependency call durations, requests in flight."""

import threading
import time

import httpx
import pytest
from mock_processes import (
    ADMIN_HEADERS,
    CALLS,
    LATENCY_BUCKETS_S,
    MockProcess,
    service_config,
)

CLAIM = {
    "policy_id": "POL-000001",
    "customer_id": "CUST-000001",
    "amount_cents": 10_000,
    "description": "Windscreen cracked by a stone",
    "incident_date": "2026-01-05",
}
POLICY = {
    "policy_id": "POL-000001",
    "customer_id": "CUST-000001",
    "status": "active",
    "coverage_cents": 5_000_000,
}
TIMEOUT_S = 0.5
CUSTOMER_DELAY_S = 0.3
FRAUD_DELAY_S = 1.5
SLOW_FAULT_MS = 1500
CONCURRENT_REQUESTS = 5
# Scheduling on a shared machine; the clocks themselves are exact.
TIMING_TOLERANCE_S = 0.25


def _edges(process: MockProcess, dependency: str) -> dict[str, float]:
    return {
        sample.labels["le"]: sample.value
        for sample in process.samples()
        if sample.name == "dependency_request_duration_seconds_bucket"
        and sample.labels["dependency"] == dependency
    }


def _duration(process: MockProcess, dependency: str, part: str) -> float | None:
    return process.metric(
        f"dependency_request_duration_seconds_{part}", dependency=dependency
    )


def _attempts(process: MockProcess, dependency: str) -> float:
    """Calls that reached for the dependency: every outcome but the skipped ones."""
    return sum(
        process.metric("dependency_requests_total", dependency=dependency, outcome=o)
        for o in ("ok", "error", "timeout")
    )


@pytest.fixture
def claims(launcher, fake):
    """claims-api whose customer-api answers late and whose fraud check times out."""
    fakes = {
        "policy-api": fake({("GET", "/policies/POL-000001"): (200, POLICY)}),
        "customer-api": fake(
            {("GET", "/customers/CUST-000001"): (200, {"customer_id": "CUST-000001"})},
            delay_s=CUSTOMER_DELAY_S,
        ),
        "payment-api": fake(),
        "fraud-detection": fake(
            {("POST", "/score"): (200, {"score": 0.1, "decision": "accept"})},
            delay_s=FRAUD_DELAY_S,
        ),
    }
    urls = {name: dependency.url for name, dependency in fakes.items()}
    config = service_config("claims-api", launcher.run_dir, urls, timeout_s=TIMEOUT_S)
    return launcher.start(config)


@pytest.fixture
def gateway(launcher) -> MockProcess:
    return launcher.start(service_config("payment-gateway", launcher.run_dir, {}))


def test_every_dependency_duration_is_exported_at_zero_from_start_up(launcher, fake):
    urls = {name: fake().url for name in CALLS["claims-api"]}
    claims = launcher.start(service_config("claims-api", launcher.run_dir, urls))

    for dependency in CALLS["claims-api"]:
        assert _duration(claims, dependency, "count") == 0.0
        assert _edges(claims, dependency) == {
            **{str(float(edge)): 0.0 for edge in LATENCY_BUCKETS_S},
            "+Inf": 0.0,
        }
    assert claims.metric("http_requests_in_flight", service="claims-api") == 0.0


def test_a_late_answer_is_timed_as_the_caller_waited_for_it(claims):
    httpx.post(f"{claims.url}/claims", json=CLAIM, timeout=10)

    edges = _edges(claims, "customer-api")
    assert _duration(claims, "customer-api", "count") == 1.0
    assert edges["0.1"] == 0.0 and edges["0.5"] == 1.0
    assert _duration(claims, "customer-api", "sum") == pytest.approx(
        CUSTOMER_DELAY_S, abs=TIMING_TOLERANCE_S
    )


def test_a_timed_out_attempt_is_timed_at_its_timeout(claims):
    answer = httpx.post(f"{claims.url}/claims", json=CLAIM, timeout=10)

    attempts = _attempts(claims, "fraud-detection")
    # Without a fraud score the claim is filed for review, not failed.
    assert answer.status_code == 201
    assert answer.json()["review_reasons"] == ["fraud check unavailable"]
    assert claims.metric(
        "dependency_requests_total", dependency="fraud-detection", outcome="timeout"
    ) == pytest.approx(attempts)
    assert attempts >= 1
    assert _duration(claims, "fraud-detection", "count") == attempts
    assert _edges(claims, "fraud-detection")["0.3"] == 0.0
    assert _duration(claims, "fraud-detection", "sum") == pytest.approx(
        TIMEOUT_S * attempts, abs=TIMING_TOLERANCE_S * attempts
    )


def test_requests_count_in_flight_while_served_and_not_after(gateway):
    in_flight = []
    assert httpx.post(
        f"{gateway.url}/admin/faults",
        json={"kind": "slow", "delay_ms": SLOW_FAULT_MS, "path_prefix": "/charges"},
        headers=ADMIN_HEADERS,
    ).is_success

    def look_up(number: int) -> None:
        httpx.get(f"{gateway.url}/charges/CH-{number:06d}", timeout=10)

    threads = [
        threading.Thread(target=look_up, args=(n,)) for n in range(CONCURRENT_REQUESTS)
    ]
    for thread in threads:
        thread.start()
    in_flight.append(_wait_in_flight(gateway, CONCURRENT_REQUESTS))
    for thread in threads:
        thread.join(timeout=10)
    in_flight.append(gateway.metric("http_requests_in_flight"))

    assert in_flight == [CONCURRENT_REQUESTS, 0.0]


def test_admin_health_and_metrics_requests_are_never_in_flight(gateway):
    httpx.get(f"{gateway.url}/healthz")
    httpx.get(f"{gateway.url}/admin/faults", headers=ADMIN_HEADERS)

    # The scrape that reads the gauge is itself being served as it reads it.
    assert gateway.metric("http_requests_in_flight") == 0.0


def _wait_in_flight(process: MockProcess, wanted: int, timeout_s: float = 5) -> float:
    deadline = time.monotonic() + timeout_s
    seen = process.metric("http_requests_in_flight")
    while seen != wanted and time.monotonic() < deadline:
        time.sleep(0.02)
        seen = process.metric("http_requests_in_flight")
    return seen
