"""The dependency client with its policies, over a fake transport and clock."""

import asyncio
import random
from collections.abc import Callable

import httpx
import pytest

from mocks.config import DependencyConfig
from mocks.core.dependencies import DependencyClient
from mocks.core.metrics import ServiceMetrics
from mocks.core.resilience import PolicyError, ResiliencePolicy, Timing, parse_policy
from mocks.core.storage import Store
from mocks.core.tracing import TraceContext
from mocks.errors import ConfigError, DependencyFailed, Rejected

DEPENDENCY = "policy-api"
POLICY = {"policy_id": "POL-000001", "status": "active"}
KEY = "POL-000001"
PATH = f"/policies/{KEY}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class Transport:
    """Answers each request with the next scripted status; records the requests."""

    def __init__(self, *statuses: int):
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses[min(len(self.requests), len(self.statuses)) - 1]
        return httpx.Response(status, json=POLICY if status < 300 else {"error": "x"})


@pytest.fixture
def make_client(tmp_path) -> Callable[..., DependencyClient]:
    def make(
        transport: Transport, cacheable: bool = True, **policy_fields
    ) -> DependencyClient:
        policy = parse_policy(policy_fields, ResiliencePolicy())
        config = DependencyConfig(DEPENDENCY, "http://policy.test", 1.0, policy)
        store = Store(tmp_path / "claims.sqlite3")
        store.open()
        clock = FakeClock()
        return DependencyClient(
            "claims-api",
            "1.0.0",
            {DEPENDENCY: config},
            frozenset({DEPENDENCY}) if cacheable else frozenset(),
            ServiceMetrics("claims-api", "1.0.0", [0.1, 1.0]),
            store,
            timing=Timing(clock, clock.sleep, random.Random(5)),
            transport=httpx.MockTransport(transport),
        )

    return make


def _run(client: DependencyClient, work):
    async def scenario():
        await client.start()
        try:
            return await work(client)
        finally:
            await client.close()

    return asyncio.run(scenario())


def _sample(client: DependencyClient, name: str, **labels) -> float:
    labels = {"service": "claims-api", "dependency": DEPENDENCY, **labels}
    return client.metrics.registry.get_sample_value(name, labels)


TRACE = TraceContext.from_traceparent(None)
RETRIES = {"retry": {"max_attempts": 3, "budget_min_retries": 10}}


def test_a_get_answered_503_is_retried_and_each_attempt_counted(make_client):
    transport = Transport(503, 503, 200)
    client = make_client(transport, **RETRIES)

    answer = _run(client, lambda c: c.call(DEPENDENCY, "GET", PATH, TRACE))

    assert answer.body == POLICY
    assert len(transport.requests) == 3
    assert _sample(client, "dependency_requests_total", outcome="error") == 2
    assert _sample(client, "dependency_requests_total", outcome="ok") == 1
    assert _sample(client, "dependency_retries_total") == 2


@pytest.mark.parametrize(
    ("statuses", "payload", "attempts"),
    [
        ((409, 201), {"idempotency_key": "k-1"}, 1),
        ((429, 201), {"idempotency_key": "k-1"}, 1),
        ((503, 201), {"amount_cents": 5}, 1),
        ((503, 201), {"idempotency_key": "k-1"}, 2),
    ],
    ids=["4xx", "429", "post-without-key", "post-with-key"],
)
def test_only_transient_failures_of_idempotent_calls_are_retried(
    make_client, statuses, payload, attempts
):
    transport = Transport(*statuses)
    client = make_client(transport, **RETRIES)

    async def post(c):
        try:
            return await c.call(DEPENDENCY, "POST", "/x", TRACE, payload, (201,))
        except DependencyFailed as failed:
            return failed

    _run(client, post)

    assert len(transport.requests) == attempts


def test_an_open_breaker_refuses_without_calling_and_counts_rejected(make_client):
    transport = Transport(503)
    client = make_client(
        transport, breaker={"enabled": True, "failure_threshold": 2, "open_s": 30}
    )

    async def three_calls(c):
        failures = []
        for _ in range(3):
            with pytest.raises(DependencyFailed) as failed:
                await c.call(DEPENDENCY, "GET", PATH, TRACE)
            failures.append(failed.value.reason)
        return failures

    reasons = _run(client, three_calls)

    assert len(transport.requests) == 2
    assert reasons[-1] == "not called: circuit breaker is open"
    assert _sample(client, "dependency_requests_total", outcome="rejected") == 1
    assert _sample(client, "dependency_circuit_state", state="open") == 1
    assert _sample(client, "dependency_circuit_state", state="closed") == 0


def test_a_retry_the_breaker_stops_is_neither_counted_nor_spent(make_client):
    transport = Transport(503)
    client = make_client(
        transport,
        retry={"max_attempts": 3, "budget_min_retries": 10},
        breaker={"enabled": True, "failure_threshold": 2, "open_s": 30},
    )

    async def one_call(c):
        with pytest.raises(DependencyFailed):
            await c.call(DEPENDENCY, "GET", PATH, TRACE)
        return c.describe()[DEPENDENCY]

    state = _run(client, one_call)

    assert len(transport.requests) == 2
    assert _sample(client, "dependency_retries_total") == 1
    assert state["state"]["retry_budget"]["retries_in_window"] == 1


def test_a_failed_look_up_falls_back_to_the_cache_or_a_degraded_answer(make_client):
    transport = Transport(200, 503)
    client = make_client(transport, fallback_on_failure=True)

    async def look_ups(c):
        live = await c.lookup(DEPENDENCY, PATH, KEY, TRACE)
        cached = await c.lookup(DEPENDENCY, PATH, KEY, TRACE)
        missing = await c.lookup(DEPENDENCY, "/policies/POL-000002", "POL-2", TRACE)
        return live, cached, missing

    live, cached, missing = _run(client, look_ups)

    assert (live.check, cached.check, missing.check) == (
        "verified",
        "cached",
        "deferred",
    )
    assert cached.record == POLICY
    assert _sample(client, "dependency_fallbacks_served_total", reason="failed") == 2


def test_without_fallback_on_failure_a_failed_look_up_is_a_503(make_client):
    client = make_client(Transport(503))

    with pytest.raises(DependencyFailed):
        _run(client, lambda c: c.lookup(DEPENDENCY, PATH, KEY, TRACE))


def test_fallback_on_failure_for_a_dependency_never_cached_refuses_to_start(
    make_client,
):
    with pytest.raises(ConfigError) as refused:
        make_client(Transport(200), cacheable=False, fallback_on_failure=True)

    assert "dependencies.policy-api.resilience.fallback_on_failure" in str(
        refused.value
    )


def test_an_update_with_one_bad_field_changes_nothing(make_client):
    client = make_client(Transport(200))
    before = client.describe_one(DEPENDENCY)

    with pytest.raises(Rejected) as refused:
        client.update(
            DEPENDENCY,
            {"fallback": "cache", "breaker": {"enabled": True, "open_s": 0}},
        )

    assert (refused.value.field, refused.value.value) == ("breaker.open_s", 0)
    assert client.describe_one(DEPENDENCY) == before


def test_a_policy_error_is_a_value_error():
    assert issubclass(PolicyError, ValueError)


def _config_with(resilience: dict) -> dict:
    return {
        "service": "fraud-detection",
        "host": "127.0.0.1",
        "port": 18001,
        "data_dir": "/tmp/run/data",
        "log_dir": "/tmp/run/logs",
        "admin_token": "t",
        "latency_buckets_s": [0.1],
        "dependencies": {
            DEPENDENCY: {
                "url": "http://127.0.0.1:1",
                "timeout_s": 0.5,
                "resilience": resilience,
            }
        },
        "version": "1.0.0",
    }


def test_a_config_file_policy_is_read_over_the_defaults():
    from mocks.config import parse_config

    config = parse_config(_config_with({"breaker": {"enabled": True}}))

    policy = config.dependencies[DEPENDENCY].resilience
    assert (policy.timeout_s, policy.breaker.enabled) == (0.5, True)
    assert policy.retry.max_attempts == 1


def test_a_bad_config_file_policy_names_file_field_and_value():
    from mocks.config import parse_config

    with pytest.raises(ConfigError) as refused:
        parse_config(_config_with({"retry": {"max_attempts": 99}}), "fraud.json")

    message = str(refused.value)
    assert message.startswith("fraud.json: ")
    assert "'dependencies.policy-api.resilience.retry.max_attempts'" in message
    assert "99" in message and "an integer 1..10" in message
