"""The admin API: only with the token, and refusals that name what is accepted."""

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from mock_processes import ADMIN_HEADERS, Launcher, MockProcess, service_config

from mocks.config import parse_config
from mocks.core.app import create_app
from mocks.services import spec_for

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


def _from_another_host(app, method: str, path: str, body) -> httpx.Response:
    # The real server listens on 127.0.0.1 only, so no request from another
    # host can reach it; the app is called in-process with a made-up peer.
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 40000))

    async def call() -> httpx.Response:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://claims") as client,
        ):
            return await client.request(method, path, json=body, headers=ADMIN_HEADERS)

    return asyncio.run(call())


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/dependencies", None),
        ("PUT", "/admin/dependencies/customer-api", {"fallback": "cache"}),
        ("GET", "/admin/faults", None),
        ("POST", "/admin/faults", {"kind": "error"}),
        ("DELETE", "/admin/faults", None),
        ("GET", "/admin/faults/fault-1", None),
        ("DELETE", "/admin/faults/fault-1", None),
        ("POST", "/admin/deploy/rollback", None),
    ],
)
def test_from_another_host_every_admin_route_is_403_even_with_the_token(
    tmp_path, method, path, body
):
    urls = {name: "http://127.0.0.1:9" for name in DEPENDENCIES}
    config = parse_config(service_config("claims-api", tmp_path, urls))
    app = create_app(config, spec_for(config, "test"))

    answer = _from_another_host(app, method, path, body)

    assert answer.status_code == 403
    assert "192.0.2.10" in answer.json()["detail"]
