"""Runbook actions against real mocks: each takes effect, and each undo restores."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.config import Escalation, Runbook, RunbookAction, load_estate
from harness.observe.pager import PagerStub
from harness.remediate.actions import ActionError, ActionExecutor
from harness.remediate.controller import RemediationController
from harness.remediate.escalation import Escalator
from harness.report.journal import Journal
from harness.stack.local import LocalStack, StackState
from harness.stack.mock_admin import MockAdminClient
from harness.stack.proxy_choice import ProxyChoice

REPO = Path(__file__).resolve().parents[2]
EXTERNALS = ("identity-verification", "crm")
CUSTOMER = "CUST-000001"


@pytest.fixture
def stack(tmp_path) -> Iterator[LocalStack]:
    """customer-api and its two externals, called directly instead of by route."""
    estate = load_estate(REPO / "config")
    stack = LocalStack(estate, tmp_path, "http://127.0.0.1:9/")
    ports = {name: stack._port() for name in ("customer-api", *EXTERNALS)}
    routes = {
        estate.route_for("customer-api", name).name: f"127.0.0.1:{ports[name]}"
        for name in EXTERNALS
    }
    try:
        stack._start_mocks(ports, routes)
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def executor(stack) -> Iterator[ActionExecutor]:
    urls = {name: _url(stack, name) for name in stack.mock_ports}
    executor = ActionExecutor(urls, stack.admin_token, stack=stack)
    yield executor
    executor.close()


def _url(stack: LocalStack, name: str) -> str:
    return f"http://127.0.0.1:{stack.mock_ports[name]}"


def _admin(stack: LocalStack, name: str = "customer-api") -> MockAdminClient:
    return MockAdminClient(_url(stack, name), stack.admin_token)


def _breaker(stack: LocalStack) -> dict:
    with _admin(stack) as admin:
        return admin._json("GET", "/admin/dependencies")["crm"]["state"]["breaker"]


def test_a_breaker_forced_open_refuses_calls_and_its_undo_hands_it_back(
    stack, executor
):
    result = executor.run(
        RunbookAction(
            "breaker", {"service": "customer-api", "dependency": "crm", "state": "open"}
        )
    )
    forced = _breaker(stack)
    crm_calls_before = _crm_requests(stack)
    refused = _register(stack, "ada@example.com")
    crm_calls_after = _crm_requests(stack)
    executor.undo_all()
    registered = _register(stack, "grace@example.com")

    assert result.detail == {"breaker": "open", "was": "closed"}
    assert (forced["state"], forced["forced"]) == ("open", True)
    # Refused by the breaker: the call never reached crm.
    assert refused.status_code == 503, refused.text
    assert crm_calls_after == crm_calls_before
    assert (_breaker(stack)["state"], _breaker(stack)["forced"]) == ("closed", False)
    assert registered.status_code == 201, registered.text


def _register(stack: LocalStack, email: str) -> httpx.Response:
    return httpx.post(
        f"{_url(stack, 'customer-api')}/customers",
        json={"name": "A Person", "email": email, "date_of_birth": "1976-12-09"},
        timeout=10,
    )


def _crm_requests(stack: LocalStack) -> float:
    text = httpx.get(f"{_url(stack, 'crm')}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_requests_total{") and "/admin" not in line
    )


def test_a_rollback_removes_the_bad_deploy_and_a_second_one_fails(stack, executor):
    rollback = RunbookAction("rollback", {"service": "customer-api"})
    with _admin(stack) as admin:
        admin.add_fault("bad_deploy", version="1.1.0-bad", error_rate=0.5)
        result = executor.run(rollback)
        version_after = admin.version()

    with pytest.raises(ActionError, match="HTTP 409.*no bad deploy"):
        executor.run(rollback)
    assert result.detail == {"version": "1.0.0", "was": "1.1.0-bad"}
    assert version_after == "1.0.0"


def test_shedding_refuses_its_share_with_retry_after_and_spares_critical(
    stack, executor
):
    url = f"{_url(stack, 'customer-api')}/customers/{CUSTOMER}"
    executor.run(RunbookAction("shed", {"service": "customer-api", "ratio": 0.5}))
    plain = [httpx.get(url) for _ in range(10)]
    critical = [httpx.get(url, headers={"X-Priority": "critical"}) for _ in range(5)]
    executor.undo_all()
    after = [httpx.get(url) for _ in range(4)]

    shed = [r for r in plain if r.status_code == 503]
    assert len(shed) == 5
    assert all(r.headers["Retry-After"] == "1" for r in shed)
    assert shed[0].json()["error"] == "load_shed"
    assert [r.status_code for r in critical] == [200] * 5
    assert [r.status_code for r in after] == [200] * 4


def test_a_shed_ratio_outside_0_to_1_is_refused_by_the_mock(stack):
    response = httpx.put(
        f"{_url(stack, 'customer-api')}/admin/shed",
        json={"ratio": 2},
        headers={"Authorization": f"Bearer {stack.admin_token}"},
    )

    assert response.status_code == 422
    assert response.json()["field"] == "ratio"


def test_a_mock_restarted_by_a_runbook_outlives_the_runbook_thread(
    stack, executor, tmp_path
):
    old_pid = next(p.pid for p in stack.processes if p.name == "crm")
    runbook = Runbook(
        name="restart-crm",
        description="",
        answers=("ServiceDown",),
        actions=(RunbookAction("restart", {"service": "crm"}, timeout_s=30),),
        enabled=True,
        path=Path("x.yaml"),
    )
    journal = Journal(tmp_path / "journal", "t")
    controller = RemediationController({runbook.name: runbook}, executor, journal)

    controller.on_alert("ServiceDown", "fp1", "firing")
    controller.shutdown()
    # Wait until the runbook's thread has exited, as it does after a run.
    controller._pool.shutdown(wait=True)
    time.sleep(1.0)
    process = next(p for p in stack.processes if p.name == "crm")

    assert journal.first("runbook_finished", runbook="restart-crm") is not None
    assert process.pid != old_pid
    assert process.running(), process.log_tail()
    assert httpx.get(f"{_url(stack, 'crm')}/healthz").status_code == 200


def test_a_capped_runbook_pages_the_team_through_the_pager(tmp_path):
    estate = load_estate(REPO / "config")
    runbook = Runbook(
        name="restart-claims",
        description="",
        answers=("ServiceDown",),
        actions=(RunbookAction("restart", {"service": "claims-api"}),),
        enabled=True,
        path=Path("x.yaml"),
        escalate=Escalation("claims-platform", "critical"),
    )
    pager = PagerStub()
    pager.start()
    escalator = Escalator(pager.url, estate.alerting)
    try:
        paged = escalator.escalate(runbook, "ServiceDown", attempts=2)
        incidents = pager.incidents()
    finally:
        escalator.close()
        pager.stop()

    assert paged["integration"] == "pagerduty"
    assert len(incidents) == 1
    assert incidents[0].credential == estate.alerting.teams["claims-platform"].key
    assert incidents[0].key == "runbook:restart-claims:ServiceDown"
    assert incidents[0].severity == "critical"
    assert "ran 2 time(s)" in incidents[0].summary


def test_an_opsgenie_team_is_paged_through_opsgenie(tmp_path):
    estate = load_estate(REPO / "config")
    runbook = Runbook(
        name="shed-customer",
        description="",
        answers=("Saturation",),
        actions=(RunbookAction("shed", {"service": "customer-api", "ratio": 0.3}),),
        enabled=True,
        path=Path("x.yaml"),
        escalate=Escalation("customer-platform", "error"),
    )
    pager = PagerStub()
    pager.start()
    escalator = Escalator(pager.url, estate.alerting)
    try:
        paged = escalator.escalate(runbook, "Saturation", attempts=1)
        incidents = pager.incidents()
    finally:
        escalator.close()
        pager.stop()

    assert paged["integration"] == "opsgenie"
    assert [(i.integration, i.severity) for i in incidents] == [("opsgenie", "P2")]


@pytest.fixture
def routed_stack(tmp_path) -> Iterator[LocalStack]:
    """The embedded proxy with every route, and customer-api with its externals."""
    estate = load_estate(REPO / "config")
    stack = LocalStack(
        estate, tmp_path, "http://127.0.0.1:9/", proxy_choice=ProxyChoice("embedded")
    )
    try:
        stack._start_proxy()
        ports = {name: stack._port() for name in stack._mock_names()}
        routes = stack._create_routes(ports)
        wanted = ("customer-api", *EXTERNALS)
        stack._start_mocks({name: ports[name] for name in wanted}, routes)
        stack.state = StackState.UP
        yield stack
    finally:
        stack.stop()


def _served(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_requests_total{") and "/customers" in line
    )


def test_scale_out_balances_the_route_over_two_instances_sharing_data(
    routed_stack,
):
    stack = routed_stack
    urls = {name: _url(stack, name) for name in stack.mock_ports}
    executor = ActionExecutor(urls, stack.admin_token, stack=stack)
    front = f"http://{stack._route_listens['client_to_customer-api']}"
    try:
        result = executor.run(RunbookAction("scale_out", {"service": "customer-api"}))
        second = stack.extra_instances["customer-api"]
        second_url = f"http://127.0.0.1:{_port_of(stack, second)}"
        created = _register_at(front, "lin@example.com")
        # New connections alternate between the two instances.
        answers = [_get_fresh(f"{front}/customers/{CUSTOMER}") for _ in range(6)]
        found_on_second = httpx.get(
            f"{second_url}/customers/{created.json()['customer_id']}"
        )
        first_served, second_served = _served(urls["customer-api"]), _served(second_url)
        executor.undo_all()
    finally:
        executor.close()

    assert result.detail["pid"] == second.pid
    assert created.status_code == 201, created.text
    assert answers == [200] * 6
    assert first_served >= 3 and second_served >= 3
    assert found_on_second.status_code == 200
    assert not second.running()
    assert "customer-api" not in stack.extra_instances
    assert "extra_upstreams" not in stack.proxy.get_proxy("client_to_customer-api")


def test_scale_out_with_toxiproxy_fails_with_a_clear_error(tmp_path):
    estate = load_estate(REPO / "config")
    stack = LocalStack(
        estate,
        tmp_path,
        "http://127.0.0.1:9/",
        proxy_choice=ProxyChoice("external", url="http://127.0.0.1:9"),
    )
    stack.proxy = object()
    executor = ActionExecutor({}, "token", stack=stack)

    with pytest.raises(ActionError, match="needs the embedded fault proxy.*external"):
        executor.run(RunbookAction("scale_out", {"service": "customer-api"}))


def _port_of(stack: LocalStack, process) -> int:
    config = json.loads(Path(process.argv[-1]).read_text())
    return config["port"]


def _register_at(base: str, email: str) -> httpx.Response:
    return httpx.post(
        f"{base}/customers",
        json={"name": "A Person", "email": email, "date_of_birth": "1976-12-09"},
        timeout=10,
    )


def _get_fresh(url: str) -> int:
    # A new client per request: the proxy balances connections, not requests.
    with httpx.Client(trust_env=False) as client:
        return client.get(url, timeout=10).status_code


@pytest.fixture
def payment_stack(tmp_path) -> Iterator[LocalStack]:
    """payment-api, policy-api and the gateway with its secondary, all routed."""
    estate = load_estate(REPO / "config")
    stack = LocalStack(
        estate, tmp_path, "http://127.0.0.1:9/", proxy_choice=ProxyChoice("embedded")
    )
    try:
        stack._start_proxy()
        ports = {name: stack._port() for name in stack._mock_names()}
        routes = stack._create_routes(ports)
        wanted = ("payment-api", "policy-api", "payment-gateway")
        stack._start_mocks({name: ports[name] for name in wanted}, routes)
        yield stack
    finally:
        stack.stop()


def _charges(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_requests_total{") and 'route="/charges"' in line
    )


FAILOVER = RunbookAction(
    "failover",
    {"service": "payment-api", "dependency": "payment-gateway", "to": "secondary"},
)


def test_a_failover_retried_with_the_same_key_charges_once(payment_stack):
    stack = payment_stack
    primary = _url(stack, "payment-gateway")
    secondary = f"http://127.0.0.1:{stack.secondary_ports['payment-gateway']}"
    payment_api = _url(stack, "payment-api")
    executor = ActionExecutor(
        {"payment-api": payment_api}, stack.admin_token, stack=stack
    )
    payment = {"policy_id": "POL-000001", "amount_cents": 1250, "idempotency_key": "k1"}
    earlier = _charge_at(primary, "payment:k0")
    # The charge landed at the primary, but its answer never reached payment-api.
    landed = httpx.post(
        f"{primary}/charges",
        json={
            "amount_cents": 1250,
            "reference": "POL-000001",
            "idempotency_key": "payment:k1",
        },
    )
    try:
        result = executor.run(
            RunbookAction(
                "failover",
                {
                    "service": "payment-api",
                    "dependency": "payment-gateway",
                    "to": "secondary",
                },
            )
        )
        secondary_before = _charges(secondary)
        paid = httpx.post(f"{payment_api}/payments", json=payment, timeout=10)
        secondary_after = _charges(secondary)
        executor.undo_all()
        target_after_undo = _gateway_target(stack, payment_api)
    finally:
        executor.close()
    ledgers = [
        [c["idempotency_key"] for c in _ledger(url)] for url in (primary, secondary)
    ]

    assert landed.status_code == 201, landed.text
    assert result.detail == {"target": "secondary", "was": "primary"}
    assert paid.status_code == 201, paid.text
    assert secondary_after == secondary_before + 1
    assert paid.json()["gateway_charge_id"] == landed.json()["charge_id"]
    assert earlier.status_code == 201, earlier.text
    assert ledgers == [["payment:k0", "payment:k1"]] * 2
    assert target_after_undo == "primary"


def _charge_at(gateway: str, key: str) -> httpx.Response:
    body = {"amount_cents": 700, "reference": "POL-000002", "idempotency_key": key}
    return httpx.post(f"{gateway}/charges", json=body)


def _ledger(gateway: str) -> list[dict]:
    return httpx.get(f"{gateway}/ledger/charges").json()["movements"]


def _gateway_target(stack: LocalStack, payment_api: str) -> str:
    answer = httpx.get(
        f"{payment_api}/admin/dependencies",
        headers={"Authorization": f"Bearer {stack.admin_token}"},
    )
    return answer.json()["payment-gateway"]["target"]
