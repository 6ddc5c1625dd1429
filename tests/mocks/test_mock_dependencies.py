"""Dependency failures become 503s and counted outcomes; the cache fallback."""

import time

import httpx
import pytest
from mock_processes import ADMIN_HEADERS, free_port, service_config

CLAIM = {
    "policy_id": "POL-000001",
    "customer_id": "CUST-000001",
    "amount_cents": 10_000,
    "description": "Windscreen cracked by a stone",
    "incident_date": "2026-01-05",
}
TIMEOUT_S = 0.3
# Start-up, scheduling and the fake's thread add to the timeout; this bounds it.
TIMEOUT_TOLERANCE_S = 0.7


def _policy(number: int) -> dict:
    return {
        "policy_id": f"POL-{number:06d}",
        "customer_id": f"CUST-{number:06d}",
        "status": "active",
        "coverage_cents": 5_000_000,
    }


def _customer(number: int) -> dict:
    return {"customer_id": f"CUST-{number:06d}", "name": "Ada Kettle"}


def _claim(number: int) -> dict:
    return {
        **CLAIM,
        "policy_id": f"POL-{number:06d}",
        "customer_id": f"CUST-{number:06d}",
    }


@pytest.fixture
def fakes(fake):
    """Healthy stand-ins for every dependency of claims-api."""
    return {
        "policy-api": fake(
            {("GET", f"/policies/POL-00000{n}"): (200, _policy(n)) for n in (1, 2, 3)}
        ),
        "customer-api": fake(
            {
                ("GET", f"/customers/CUST-00000{n}"): (200, _customer(n))
                for n in (1, 2, 3)
            }
        ),
        "payment-api": fake(),
        "fraud-detection": fake(
            {("POST", "/score"): (200, {"score": 0.1, "decision": "accept"})}
        ),
    }


def _claims_api(launcher, urls: dict[str, str]):
    config = service_config("claims-api", launcher.run_dir, urls, timeout_s=TIMEOUT_S)
    return launcher.start(config)


def _urls(fakes, **overrides) -> dict[str, str]:
    return {name: fake.url for name, fake in fakes.items()} | overrides


def _outcome(process, dependency: str, outcome: str) -> float:
    return process.metric(
        "dependency_requests_total", dependency=dependency, outcome=outcome
    )


def test_a_dependency_that_answers_too_late_is_a_503_counted_as_timeout(
    launcher, fakes, fake
):
    slow = fake({("GET", "/policies/POL-000001"): (200, _policy(1))}, delay_s=3.0)
    claims = _claims_api(launcher, _urls(fakes, **{"policy-api": slow.url}))

    started = time.monotonic()
    answer = httpx.post(f"{claims.url}/claims", json=CLAIM, timeout=10)
    elapsed_s = time.monotonic() - started

    assert answer.status_code == 503
    assert answer.json()["error"] == "dependency_failed"
    assert answer.json()["dependency"] == "policy-api"
    assert "within 0.3 s" in answer.json()["reason"]
    assert TIMEOUT_S <= elapsed_s < TIMEOUT_S + TIMEOUT_TOLERANCE_S
    assert _outcome(claims, "policy-api", "timeout") == 1.0
    assert _outcome(claims, "policy-api", "error") == 0.0
    assert (
        claims.metric("http_requests_total", route="/claims", method="POST", code="503")
        == 1.0
    )


def test_a_dependency_that_refuses_connections_is_a_503_counted_as_error(
    launcher, fakes
):
    closed = f"http://127.0.0.1:{free_port()}"
    claims = _claims_api(launcher, _urls(fakes, **{"customer-api": closed}))

    answer = httpx.post(f"{claims.url}/claims", json=CLAIM, timeout=10)

    assert answer.status_code == 503
    assert answer.json()["dependency"] == "customer-api"
    assert _outcome(claims, "customer-api", "error") == 1.0
    assert _outcome(claims, "policy-api", "ok") == 1.0


def test_a_dependency_answering_5xx_is_a_503_counted_as_error(launcher, fakes, fake):
    broken = fake({("GET", "/policies/POL-000001"): (500, {"error": "boom"})})
    claims = _claims_api(launcher, _urls(fakes, **{"policy-api": broken.url}))

    answer = httpx.post(f"{claims.url}/claims", json=CLAIM, timeout=10)

    assert answer.status_code == 503
    assert answer.json()["reason"] == "answered HTTP 500 to GET /policies/POL-000001"
    assert _outcome(claims, "policy-api", "error") == 1.0


def test_fraud_detection_answering_5xx_sends_the_claim_to_review(launcher, fakes, fake):
    broken = fake({("POST", "/score"): (500, {"error": "boom"})})
    claims = _claims_api(launcher, _urls(fakes, **{"fraud-detection": broken.url}))

    answer = httpx.post(f"{claims.url}/claims", json=CLAIM, timeout=10)

    assert answer.status_code == 201
    claim = answer.json()
    assert (claim["status"], claim["fraud_check"]) == ("under_review", "deferred")
    assert claim["review_reasons"] == ["fraud check unavailable"]
    assert claim["fraud_score"] is None
    assert claim["fraud_check_error"] == "answered HTTP 500 to POST /score"
    assert _outcome(claims, "fraud-detection", "error") >= 1.0
    stored = httpx.get(f"{claims.url}/claims/{claim['claim_id']}").json()
    assert stored["status"] == "under_review"


def test_with_fraud_detection_down_a_claim_is_kept_once_and_adjudicated(
    launcher, fakes
):
    down = f"http://127.0.0.1:{free_port()}"
    claims = _claims_api(launcher, _urls(fakes, **{"fraud-detection": down}))
    keyed = {**CLAIM, "idempotency_key": "intake-fraud-down-1"}

    first = httpx.post(f"{claims.url}/claims", json=keyed, timeout=10)
    retried = httpx.post(f"{claims.url}/claims", json=keyed, timeout=10)

    assert (first.status_code, retried.status_code) == (201, 201)
    assert retried.json() == first.json()
    assert first.json()["review_reasons"] == ["fraud check unavailable"]
    decided = httpx.post(
        f"{claims.url}/claims/{first.json()['claim_id']}/adjudication",
        json={"decision": "deny", "reason": "fraud check done by hand: staged"},
        timeout=10,
    )
    assert decided.status_code == 200
    assert decided.json()["status"] == "denied"
    assert (
        claims.metric("http_requests_total", route="/claims", method="POST", code="201")
        == 2.0
    )


def test_a_claim_scored_accept_by_fraud_detection_is_approved(launcher, fakes):
    claims = _claims_api(launcher, _urls(fakes))

    claim = httpx.post(f"{claims.url}/claims", json=CLAIM, timeout=10).json()

    assert (claim["status"], claim["fraud_check"]) == ("approved", "verified")
    assert (claim["fraud_score"], claim["review_reasons"]) == (0.1, [])
    assert "fraud_check_error" not in claim


def test_calls_carry_the_trace_and_name_the_caller(launcher, fakes):
    claims = _claims_api(launcher, _urls(fakes))
    trace_id = "c" * 32

    httpx.post(
        f"{claims.url}/claims",
        json=CLAIM,
        headers={"traceparent": f"00-{trace_id}-{'d' * 16}-01"},
    )

    _, _, headers = fakes["policy-api"].requests[0]
    assert headers["traceparent"].startswith(f"00-{trace_id}-")
    assert headers["X-Caller"] == "claims-api"


def _set_fallback(process, dependency: str, mode: str) -> httpx.Response:
    return httpx.put(
        f"{process.url}/admin/dependencies/{dependency}",
        json={"fallback": mode},
        headers=ADMIN_HEADERS,
    )


def test_the_cache_fallback_stops_intake_calling_customer_api(launcher, fakes):
    claims = _claims_api(launcher, _urls(fakes))
    customers = fakes["customer-api"]
    live = httpx.post(f"{claims.url}/claims", json=_claim(1)).json()
    assert live["identity_check"] == "verified"
    assert len(customers.requests) == 1

    assert _set_fallback(claims, "customer-api", "cache").json()["fallback"] == "cache"
    cached = httpx.post(f"{claims.url}/claims", json=_claim(1)).json()
    deferred = httpx.post(f"{claims.url}/claims", json=_claim(2)).json()

    assert len(customers.requests) == 1
    assert (cached["identity_check"], cached["status"]) == ("cached", "approved")
    assert (deferred["identity_check"], deferred["status"]) == (
        "deferred",
        "under_review",
    )
    assert _outcome(claims, "customer-api", "fallback") == 2.0
    assert claims.metric("dependency_fallback_active", dependency="customer-api") == 1

    _set_fallback(claims, "customer-api", "none")
    httpx.post(f"{claims.url}/claims", json=_claim(3))
    assert len(customers.requests) == 2
    assert claims.metric("dependency_fallback_active", dependency="customer-api") == 0


def test_the_cache_fallback_on_policy_api_answers_coverage_from_the_cache(
    launcher, fakes
):
    claims = _claims_api(launcher, _urls(fakes))
    httpx.post(f"{claims.url}/claims", json=_claim(1))
    _set_fallback(claims, "policy-api", "cache")

    cached = httpx.post(f"{claims.url}/claims", json=_claim(1)).json()
    deferred = httpx.post(f"{claims.url}/claims", json=_claim(2)).json()

    assert len(fakes["policy-api"].requests) == 1
    assert cached["coverage_check"] == "cached"
    assert deferred["coverage_check"] == "deferred"
    assert deferred["review_reasons"] == ["coverage_check deferred"]
