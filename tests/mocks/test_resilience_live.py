"""Resilience policies in a running claims-api, against fake dependencies."""

import threading
import time

import httpx
import pytest
from mock_processes import ADMIN_HEADERS, service_config

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
SCORE = ("POST", "/score")
OPEN_S = 1.0
# Scheduling on a shared machine; the breaker itself is exact on its clock.
TIMING_TOLERANCE_S = 0.5


@pytest.fixture
def fakes(fake):
    return {
        "policy-api": fake({("GET", "/policies/POL-000001"): (200, POLICY)}),
        "customer-api": fake(
            {("GET", "/customers/CUST-000001"): (200, {"customer_id": "CUST-000001"})}
        ),
        "payment-api": fake(),
        "fraud-detection": fake({SCORE: (200, {"score": 0.1, "decision": "accept"})}),
    }


@pytest.fixture
def claims(launcher, fakes):
    urls = {name: dependency.url for name, dependency in fakes.items()}
    return launcher.start(service_config("claims-api", launcher.run_dir, urls))


def _put(process, dependency: str, body: dict) -> httpx.Response:
    return httpx.put(
        f"{process.url}/admin/dependencies/{dependency}",
        json=body,
        headers=ADMIN_HEADERS,
    )


def _breaker_state(process, dependency: str) -> str:
    """The one state set to 1, read from a single scrape."""
    states = [
        sample.labels["state"]
        for sample in process.samples()
        if sample.name == "dependency_circuit_state"
        and sample.labels["dependency"] == dependency
        and sample.value == 1.0
    ]
    assert len(states) == 1, states
    return states[0]


def _file(process) -> httpx.Response:
    return httpx.post(f"{process.url}/claims", json=CLAIM, timeout=10)


def test_the_breaker_opens_on_failures_refuses_at_once_and_closes_after(claims, fakes):
    fraud = fakes["fraud-detection"]
    changed = _put(
        claims,
        "fraud-detection",
        {"breaker": {"enabled": True, "failure_threshold": 2, "open_s": OPEN_S}},
    )
    assert changed.status_code == 200, changed.text
    fraud.answers[SCORE] = (500, {"error": "down"})

    failed = [_file(claims) for _ in range(2)]
    assert _breaker_state(claims, "fraud-detection") == "open"
    opened_at = time.monotonic()
    refused = _file(claims)

    # Intake sends a claim it cannot score to review rather than failing it.
    assert [f.json()["fraud_check_error"] for f in failed] == [
        "answered HTTP 500 to POST /score"
    ] * 2
    assert refused.status_code == 201
    assert refused.json()["status"] == "under_review"
    assert refused.json()["fraud_check_error"] == "not called: circuit breaker is open"
    assert len(fraud.paths("POST")) == 2
    assert (
        claims.metric(
            "dependency_requests_total",
            dependency="fraud-detection",
            outcome="rejected",
        )
        == 1.0
    )

    fraud.answers[SCORE] = (200, {"score": 0.1, "decision": "accept"})
    while _breaker_state(claims, "fraud-detection") == "open":
        assert time.monotonic() - opened_at < OPEN_S + TIMING_TOLERANCE_S
        time.sleep(0.05)
    assert time.monotonic() - opened_at >= OPEN_S - TIMING_TOLERANCE_S
    assert _breaker_state(claims, "fraud-detection") == "half_open"

    assert _file(claims).json()["fraud_check"] == "verified"
    assert _breaker_state(claims, "fraud-detection") == "closed"
    listed = httpx.get(f"{claims.url}/admin/dependencies", headers=ADMIN_HEADERS).json()
    assert listed["fraud-detection"]["state"]["breaker"]["state"] == "closed"


def test_a_failing_look_up_is_retried_within_budget_and_counted(claims, fakes):
    policies = fakes["policy-api"]
    policies.answers[("GET", "/policies/POL-000001")] = (503, {"error": "busy"})
    _put(
        claims,
        "policy-api",
        {"retry": {"max_attempts": 3, "budget_min_retries": 2, "budget_ratio": 0}},
    )

    first = _file(claims)
    second = _file(claims)

    assert (first.status_code, second.status_code) == (503, 503)
    assert len(policies.paths("GET")) == 3 + 1
    assert claims.metric("dependency_retries_total", dependency="policy-api") == 2
    assert (
        claims.metric(
            "dependency_retry_budget_exhausted_total", dependency="policy-api"
        )
        == 1
    )


def test_fallback_on_failure_serves_the_cached_copy_and_counts_it(claims, fakes):
    assert _file(claims).json()["identity_check"] == "verified"
    _put(claims, "customer-api", {"fallback_on_failure": True})
    fakes["customer-api"].answers.clear()
    fakes["customer-api"].answers[("GET", "/customers/CUST-000001")] = (502, {})

    answer = _file(claims)

    assert answer.status_code == 201
    assert answer.json()["identity_check"] == "cached"
    assert (
        claims.metric(
            "dependency_fallbacks_served_total",
            dependency="customer-api",
            reason="failed",
        )
        == 1
    )


def test_calls_beyond_the_bulkhead_are_refused_at_once(launcher, fakes, fake):
    slow = fake({SCORE: (200, {"score": 0.1, "decision": "accept"})}, delay_s=1.5)
    urls = {name: dependency.url for name, dependency in fakes.items()}
    urls["fraud-detection"] = slow.url
    config = service_config("claims-api", launcher.run_dir, urls, timeout_s=3.0)
    claims = launcher.start(config)
    _put(claims, "fraud-detection", {"bulkhead": {"max_concurrent": 1}})
    held = threading.Thread(target=_file, args=(claims,))
    held.start()
    while (
        claims.metric("dependency_calls_in_flight", dependency="fraud-detection") != 1.0
    ):
        time.sleep(0.02)

    started = time.monotonic()
    refused = _file(claims)
    elapsed_s = time.monotonic() - started
    held.join()

    assert refused.status_code == 201
    assert "bulkhead full" in refused.json()["fraud_check_error"]
    # Refused at once: well before the held call's 1.5 s answer.
    assert elapsed_s < 0.5
    assert (
        claims.metric(
            "dependency_bulkhead_rejections_total", dependency="fraud-detection"
        )
        == 1
    )
    assert (
        claims.metric("dependency_calls_in_flight", dependency="fraud-detection") == 0
    )


@pytest.mark.parametrize(
    ("body", "field", "value"),
    [
        ({"breaker": {"open_s": 0}}, "breaker.open_s", 0),
        ({"retry": {"max_attempts": 3}, "timeout_s": -1}, "timeout_s", -1),
        ({"fallback_on_failure": True}, "fallback_on_failure", True),
    ],
)
def test_a_bad_policy_is_422_and_changes_nothing(claims, body, field, value):
    dependency = "fraud-detection"
    before = httpx.get(f"{claims.url}/admin/dependencies", headers=ADMIN_HEADERS)

    answer = _put(claims, dependency, body)

    assert answer.status_code == 422
    assert (answer.json()["field"], answer.json()["value"]) == (field, value)
    after = httpx.get(f"{claims.url}/admin/dependencies", headers=ADMIN_HEADERS)
    assert after.json() == before.json()


def test_without_the_token_a_policy_change_is_401_and_changes_nothing(claims):
    before = httpx.get(f"{claims.url}/admin/dependencies", headers=ADMIN_HEADERS)

    answer = httpx.put(
        f"{claims.url}/admin/dependencies/fraud-detection",
        json={"breaker": {"enabled": True}},
    )

    assert answer.status_code == 401
    after = httpx.get(f"{claims.url}/admin/dependencies", headers=ADMIN_HEADERS)
    assert after.json() == before.json()
