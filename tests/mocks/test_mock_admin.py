"""The admin API: only with the token, and refusals that name what is accepted."""

from collections.abc import Iterator

import httpx
import pytest
from mock_processes import ADMIN_HEADERS, Launcher, MockProcess, service_config

DEPENDENCIES = ("policy-api", "customer-api", "payment-api", "fraud-detection")


@pytest.fixture(scope="module")
def claims(tmp_path_factory) -> Iterator[MockProcess]:
    launcher = Launcher(tmp_path_factory.mktemp("admin"))
    # No call reaches a dependency in these tests; the URLs need not answer.
    urls = {
        name: f"http://127.0.0.1:{9 + index}" for index, name in enumerate(DEPENDENCIES)
    }
    try:
        yield launcher.start(service_config("claims-api", launcher.run_dir, urls))
    finally:
        launcher.stop_all()


def _state(claims: MockProcess) -> dict:
    return httpx.get(f"{claims.url}/admin/dependencies", headers=ADMIN_HEADERS).json()


def test_the_dependencies_are_listed_with_url_timeout_fallback_and_policy(claims):
    state = _state(claims)

    assert set(state) == set(DEPENDENCIES)
    listed = state["policy-api"]
    assert {key: listed[key] for key in ("url", "timeout_s", "fallback")} == {
        "url": "http://127.0.0.1:9",
        "timeout_s": 1.0,
        "fallback": "none",
    }
    assert listed["retry"]["max_attempts"] == 1
    assert listed["breaker"]["enabled"] is False
    assert listed["bulkhead"] == {"max_concurrent": None}
    assert listed["fallback_on_failure"] is False
    assert listed["state"]["breaker"]["state"] == "closed"
    assert listed["state"]["calls_in_flight"] == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "test-admin-token"}],
)
def test_without_the_token_the_answer_is_401_and_nothing_changes(claims, headers):
    before = _state(claims)

    listed = httpx.get(f"{claims.url}/admin/dependencies", headers=headers)
    changed = httpx.put(
        f"{claims.url}/admin/dependencies/customer-api",
        json={"fallback": "cache"},
        headers=headers,
    )

    assert (listed.status_code, changed.status_code) == (401, 401)
    assert changed.headers["www-authenticate"] == "Bearer"
    assert _state(claims) == before
    assert claims.metric("dependency_fallback_active", dependency="customer-api") == 0


def test_an_unknown_dependency_is_404_naming_the_known_ones(claims):
    answer = httpx.put(
        f"{claims.url}/admin/dependencies/billing-api",
        json={"fallback": "cache"},
        headers=ADMIN_HEADERS,
    )

    assert answer.status_code == 404
    assert "customer-api" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("dependency", "body", "field", "reason"),
    [
        ("customer-api", {"fallback": "maybe"}, "fallback", "accepts: cache, none"),
        ("customer-api", {}, "fallback", "accepts: cache, none"),
        ("fraud-detection", {"fallback": "cache"}, "fallback", "accepts: none"),
        ("customer-api", {"fallback": "none", "ttl": 5}, "ttl", "fields: fallback"),
        ("customer-api", ["cache"], "body", "JSON object"),
    ],
)
def test_a_bad_value_is_422_naming_the_field_and_allowed_values(
    claims, dependency, body, field, reason
):
    answer = httpx.put(
        f"{claims.url}/admin/dependencies/{dependency}",
        json=body,
        headers=ADMIN_HEADERS,
    )

    assert answer.status_code == 422
    assert answer.json()["field"] == field
    assert reason in answer.json()["reason"]
    assert _state(claims)[dependency]["fallback"] == "none"
