"""Metrics: every series a route or dependency can produce is 0 from start-up."""

from collections.abc import Iterator

import httpx
import pytest
from mock_processes import (
    ADMIN_HEADERS,
    CALLS,
    LATENCY_BUCKETS_S,
    Launcher,
    MockProcess,
    estate_configs,
)

# What each route can answer, besides the 500 any route can answer.
ROUTES = {
    "customer-api": {
        ("POST", "/customers"): {201, 422, 503},
        ("GET", "/customers/{customer_id}"): {200, 404},
        ("PATCH", "/customers/{customer_id}"): {200, 404, 422, 503},
        ("GET", "/customers/{customer_id}/consent"): {200, 404},
        ("PUT", "/customers/{customer_id}/consent"): {200, 404, 422},
        ("POST", "/auth/tokens"): {201, 401, 422},
        ("POST", "/auth/verify"): {200, 422},
    },
    "policy-api": {
        ("POST", "/policies"): {201, 422, 503},
        ("GET", "/policies/{policy_id}"): {200, 404},
        ("GET", "/policies/{policy_id}/status"): {200, 404},
        ("PATCH", "/policies/{policy_id}"): {200, 404, 409, 422, 503},
        ("PUT", "/policies/{policy_id}/coverage"): {200, 404, 409, 422},
        ("POST", "/policies/{policy_id}/renewal"): {200, 404, 409},
        ("POST", "/policies/{policy_id}/cancellation"): {200, 404, 409, 422},
    },
    "claims-api": {
        ("POST", "/claims"): {201, 409, 422, 503},
        ("GET", "/claims/{claim_id}"): {200, 404},
        ("GET", "/claims/{claim_id}/status"): {200, 404},
        ("POST", "/claims/{claim_id}/adjudication"): {200, 404, 409, 422},
        ("POST", "/claims/{claim_id}/payout"): {200, 201, 404, 409, 503},
    },
    "payment-api": {
        ("POST", "/payment-methods/verify"): {200, 422, 503},
        ("POST", "/payments"): {201, 409, 422, 503},
        ("GET", "/payments/{payment_id}"): {200, 404},
        ("POST", "/disbursements"): {201, 409, 422, 503},
        ("GET", "/disbursements/{disbursement_id}"): {200, 404},
        ("POST", "/authorizations"): {201, 409, 422, 503},
        ("GET", "/authorizations/{authorization_id}"): {200, 404},
        ("POST", "/authorizations/{authorization_id}/capture"): {
            201,
            404,
            409,
            422,
            503,
        },
        ("POST", "/refunds"): {201, 404, 409, 422, 503},
        ("GET", "/refunds/{refund_id}"): {200, 404},
        ("GET", "/transactions"): {200, 422},
        ("GET", "/reconciliation"): {200, 503},
    },
    "identity-verification": {("POST", "/verify"): {200, 422}},
    "crm": {("POST", "/contacts"): {201, 422}},
    "payment-gateway": {
        ("POST", "/verify"): {200, 422},
        ("POST", "/charges"): {201, 409, 422},
        ("POST", "/payouts"): {201, 409, 422},
        ("GET", "/charges/{charge_id}"): {200, 404},
        ("GET", "/payouts/{payout_id}"): {200, 404},
        ("POST", "/authorizations"): {201, 409, 422},
        ("POST", "/authorizations/{authorization_id}/captures"): {
            201,
            404,
            409,
            422,
        },
        ("POST", "/refunds"): {201, 404, 409, 422},
        ("GET", "/authorizations/{authorization_id}"): {200, 404},
        ("GET", "/ledger/{kind}"): {200, 422},
        ("POST", "/movements/search"): {200, 422},
    },
    "fraud-detection": {("POST", "/score"): {200, 422}},
}
OUTCOMES = ("ok", "error", "timeout", "fallback", "rejected")
BREAKER_STATES = ("closed", "open", "half_open")
FALLBACK_REASONS = ("switched", "failed", "rejected")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Iterator[dict[str, MockProcess]]:
    """All eight services, untouched by any request before the test reads them."""
    launcher = Launcher(tmp_path_factory.mktemp("fresh"))
    try:
        processes = launcher.start_all(estate_configs(launcher.run_dir).values())
        yield {process.name: process for process in processes}
    finally:
        launcher.stop_all()


def _series(samples, name: str, *labels: str) -> dict[tuple, float]:
    return {
        tuple(sample.labels[label] for label in labels): sample.value
        for sample in samples
        if sample.name == name
    }


@pytest.mark.parametrize("name", list(CALLS))
def test_every_request_series_is_exported_at_zero_from_start_up(fresh, name):
    samples = fresh[name].samples()

    requests = _series(
        samples, "http_requests_total", "service", "route", "method", "code"
    )
    durations = _series(
        samples, "http_request_duration_seconds_count", "service", "route", "method"
    )

    expected = {
        (name, route, method, str(code))
        for (method, route), codes in ROUTES[name].items()
        for code in codes | {500}
    }
    assert set(requests) == expected
    assert set(requests.values()) == {0.0}
    assert set(durations) == {(name, route, method) for method, route in ROUTES[name]}
    assert set(durations.values()) == {0.0}


@pytest.mark.parametrize("name", list(CALLS))
def test_every_dependency_series_is_exported_at_zero_from_start_up(fresh, name):
    samples = fresh[name].samples()

    calls = _series(
        samples, "dependency_requests_total", "service", "dependency", "outcome"
    )
    fallbacks = _series(samples, "dependency_fallback_active", "service", "dependency")
    build = _series(samples, "mock_build_info", "service", "version")

    expected = {(name, dep, outcome) for dep in CALLS[name] for outcome in OUTCOMES}
    assert set(calls) == expected
    assert set(calls.values()) <= {0.0}
    assert fallbacks == {(name, dep): 0.0 for dep in CALLS[name]}
    assert build == {(name, "1.0.0"): 1.0}


@pytest.mark.parametrize("name", ["policy-api", "claims-api", "payment-api"])
def test_every_resilience_series_is_exported_at_zero_from_start_up(fresh, name):
    samples = fresh[name].samples()
    per_dependency = {(name, dep): 0.0 for dep in CALLS[name]}

    def series(metric: str, *extra: str) -> dict:
        return _series(samples, metric, "service", "dependency", *extra)

    assert series("dependency_retries_total") == per_dependency
    assert series("dependency_retry_budget_exhausted_total") == per_dependency
    assert series("dependency_bulkhead_rejections_total") == per_dependency
    assert series("dependency_calls_in_flight") == per_dependency
    assert series("dependency_fallbacks_served_total", "reason") == {
        (name, dep, reason): 0.0 for dep in CALLS[name] for reason in FALLBACK_REASONS
    }
    assert series("dependency_circuit_state", "state") == {
        (name, dep, state): 1.0 if state == "closed" else 0.0
        for dep in CALLS[name]
        for state in BREAKER_STATES
    }


def test_histogram_buckets_are_the_configured_edges(fresh):
    samples = fresh["claims-api"].samples()

    edges = {
        sample.labels["le"]
        for sample in samples
        if sample.name == "http_request_duration_seconds_bucket"
        and sample.labels["route"] == "/claims"
    }

    assert edges == {str(float(edge)) for edge in LATENCY_BUCKETS_S} | {"+Inf"}


def test_requests_are_counted_by_route_template_and_code(fresh):
    gateway = fresh["payment-gateway"]

    httpx.get(f"{gateway.url}/charges/CH-000404")
    httpx.get(f"{gateway.url}/charges/CH-000405")

    assert (
        gateway.metric(
            "http_requests_total",
            route="/charges/{charge_id}",
            method="GET",
            code="404",
        )
        == 2.0
    )
    assert (
        gateway.metric(
            "http_request_duration_seconds_count",
            route="/charges/{charge_id}",
            method="GET",
        )
        == 2.0
    )


def test_health_metrics_admin_and_unknown_paths_are_not_counted(fresh):
    crm = fresh["crm"]
    httpx.get(f"{crm.url}/healthz")
    httpx.get(f"{crm.url}/metrics")
    httpx.get(f"{crm.url}/admin/dependencies", headers=ADMIN_HEADERS)
    httpx.get(f"{crm.url}/no/such/path")
    httpx.get(f"{crm.url}/contacts")

    routes = {
        sample.labels["route"]
        for sample in crm.samples()
        if sample.name == "http_requests_total"
    }

    assert routes == {"/contacts"}
    assert crm.metric("http_requests_total", route="/contacts", code="405") is None
