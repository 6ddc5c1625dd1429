"""Money: every movement once per idempotency key, however it is retried."""

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from mock_processes import (
    ADMIN_HEADERS,
    ADMIN_TOKEN,
    Launcher,
    MockProcess,
    estate_configs,
    service_config,
)

from harness.integrity import StoredRecords, keys_charged_once, ledger_reconciles


@pytest.fixture(scope="module")
def estate(tmp_path_factory) -> Iterator[dict[str, MockProcess]]:
    """An estate of its own, so its ledger holds only what these tests moved.

    Other modules charge the gateway directly, which payment-api's log never
    sees; the reconciliation here must not count those.
    """
    launcher = Launcher(tmp_path_factory.mktemp("money"))
    try:
        processes = launcher.start_all(estate_configs(launcher.run_dir).values())
        yield {process.name: process for process in processes}
    finally:
        launcher.stop_all()


def _gateway_count(estate, kind: str) -> int:
    url = f"{estate['payment-gateway'].url}/admin/integrity/kinds"
    return httpx.get(url, headers=ADMIN_HEADERS).json()["kinds"].get(kind, 0)


def _post(estate, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{estate['payment-api'].url}{path}", json=body, timeout=10)


def _post_to(estate, service: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{estate[service].url}{path}", json=body, timeout=10)


def _paid(estate, number: int, key: str, amount_cents: int = 5_000) -> dict:
    body = {
        "policy_id": f"POL-{number:06d}",
        "amount_cents": amount_cents,
        "idempotency_key": key,
    }
    answer = _post(estate, "/payments", body)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def _all_at_once(url: str, body: dict, times: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=times)
    async with httpx.AsyncClient(timeout=20, limits=limits) as client:
        return await asyncio.gather(
            *(client.post(url, json=body) for _ in range(times))
        )


def test_fifty_concurrent_duplicate_payments_charge_once(estate):
    body = {
        "policy_id": "POL-000140",
        "amount_cents": 2_500,
        "idempotency_key": "c-140",
    }
    charges_before = _gateway_count(estate, "charges")

    url = f"{estate['payment-api'].url}/payments"
    answers = asyncio.run(_all_at_once(url, body, 50))

    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.text for answer in answers}) == 1
    assert _gateway_count(estate, "charges") == charges_before + 1


def test_twenty_concurrent_duplicate_refunds_refund_once(estate):
    payment = _paid(estate, 141, "c-141")
    refund = {
        "payment_id": payment["payment_id"],
        "amount_cents": 1_000,
        "reason": "cover changed",
        "idempotency_key": "r-141",
    }
    refunds_before = _gateway_count(estate, "refunds")

    url = f"{estate['payment-api'].url}/refunds"
    answers = asyncio.run(_all_at_once(url, refund, 20))

    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.json()["refund_id"] for answer in answers}) == 1
    assert _gateway_count(estate, "refunds") == refunds_before + 1
    served = httpx.get(f"{estate['payment-api'].url}/payments/{payment['payment_id']}")
    assert served.json()["refunded_cents"] == 1_000


def _authorized(estate, number: int, key: str, amount_cents: int) -> dict:
    body = {
        "policy_id": f"POL-{number:06d}",
        "amount_cents": amount_cents,
        "idempotency_key": key,
    }
    answer = _post(estate, "/authorizations", body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_an_authorisation_is_captured_in_parts_and_never_beyond_it(estate):
    held = _authorized(estate, 142, "a-142", 10_000)
    capture = f"/authorizations/{held['authorization_id']}/capture"

    first = _post(estate, capture, {"amount_cents": 6_000, "idempotency_key": "p-1"})
    again = _post(estate, capture, {"amount_cents": 6_000, "idempotency_key": "p-1"})
    rest = _post(estate, capture, {"amount_cents": 4_000, "idempotency_key": "p-2"})
    beyond = _post(estate, capture, {"amount_cents": 1, "idempotency_key": "p-3"})

    assert (first.status_code, again.status_code, rest.status_code) == (201, 201, 201)
    assert first.json() == again.json()
    assert first.json()["gateway_charge_id"].startswith("CP-")
    assert beyond.status_code == 422
    assert beyond.json()["field"] == "amount_cents"
    held = httpx.get(
        f"{estate['payment-api'].url}/authorizations/{held['authorization_id']}"
    ).json()
    assert held["captured_cents"] == 10_000


def test_a_refund_beyond_what_was_paid_is_422(estate):
    payment = _paid(estate, 143, "c-143", amount_cents=3_000)
    refund = {
        "payment_id": payment["payment_id"],
        "amount_cents": 3_001,
        "reason": "mistake",
        "idempotency_key": "r-143",
    }

    answer = _post(estate, "/refunds", refund)

    assert answer.status_code == 422
    assert answer.json()["field"] == "amount_cents"
    assert (
        _post(estate, "/refunds", {**refund, "payment_id": "PAY-999999"}).status_code
        == 404
    )


def _reused_key_requests(estate) -> dict[str, tuple[str, dict, dict]]:
    payment = _paid(estate, 144, "c-144")
    held = _authorized(estate, 145, "a-145", 9_000)
    claim = {
        "policy_id": "POL-000146",
        "customer_id": "CUST-000146",
        "amount_cents": 20_000,
        "description": "Hail damage to the roof",
        "incident_date": "2026-11-01",
    }
    claim_id = httpx.post(f"{estate['claims-api'].url}/claims", json=claim).json()[
        "claim_id"
    ]
    refund = {
        "payment_id": payment["payment_id"],
        "amount_cents": 100,
        "reason": "x",
        "idempotency_key": "k-refund",
    }
    return {
        "payments": (
            "/payments",
            {
                "policy_id": "POL-000147",
                "amount_cents": 100,
                "idempotency_key": "k-pay",
            },
            {"amount_cents": 200},
        ),
        "authorizations": (
            "/authorizations",
            {
                "policy_id": "POL-000147",
                "amount_cents": 100,
                "idempotency_key": "k-aut",
            },
            {"amount_cents": 200},
        ),
        "captures": (
            f"/authorizations/{held['authorization_id']}/capture",
            {"amount_cents": 100, "idempotency_key": "k-cap"},
            {"amount_cents": 200},
        ),
        "refunds": ("/refunds", refund, {"amount_cents": 200}),
        "disbursements": (
            "/disbursements",
            {"claim_id": claim_id, "amount_cents": 100, "idempotency_key": "k-dsb"},
            {"amount_cents": 200},
        ),
    }


def test_a_key_reused_with_another_body_is_409_naming_the_key_on_every_route(estate):
    for name, (path, body, change) in _reused_key_requests(estate).items():
        first = _post(estate, path, body)
        changed = _post(estate, path, {**body, **change})

        assert first.status_code == 201, (name, first.text)
        assert changed.status_code == 409, (name, changed.text)
        assert repr(body["idempotency_key"]) in changed.json()["detail"], name


def test_the_reconciliation_endpoint_matches_the_log_with_the_gateway(estate):
    _paid(estate, 148, "c-148")

    answer = httpx.get(f"{estate['payment-api'].url}/reconciliation", timeout=20)
    log = httpx.get(f"{estate['payment-api'].url}/transactions?limit=5000").json()

    assert answer.status_code == 200
    assert answer.json()["reconciled"] is True, answer.json()
    assert answer.json()["matched"] == len(log["transactions"]) > 0


def test_a_gateway_failure_is_not_remembered_and_the_retry_charges(launcher, fake):
    policy = {"policy_id": "POL-000001", "status": "active", "coverage_cents": 10**7}
    policies = fake({("GET", "/policies/POL-000001"): (200, policy)})
    gateway = fake({("POST", "/charges"): (502, {"error": "bad_gateway"})})
    others = fake()
    payment_api = launcher.start(
        service_config(
            "payment-api",
            launcher.run_dir,
            {
                "policy-api": policies.url,
                "claims-api": others.url,
                "customer-api": others.url,
                "payment-gateway": gateway.url,
            },
        )
    )
    body = {"policy_id": "POL-000001", "amount_cents": 900, "idempotency_key": "g-1"}
    url = f"{payment_api.url}/payments"

    failed = httpx.post(url, json=body, timeout=10)
    gateway.answers[("POST", "/charges")] = (201, {"charge_id": "CH-000077"})
    retried = httpx.post(url, json=body, timeout=10)
    again = httpx.post(url, json=body, timeout=10)

    assert failed.status_code == 503
    assert "idempotency key 'g-1' again" in failed.json()["advice"]
    assert retried.status_code == 201
    assert retried.json()["gateway_charge_id"] == "CH-000077"
    assert again.json() == retried.json()
    assert len(gateway.paths("POST")) == 2


def test_the_money_these_tests_moved_is_charged_once_and_reconciles(estate):
    records = StoredRecords({n: p.url for n, p in estate.items()}, ADMIN_TOKEN)

    assert keys_charged_once(records).held
    assert ledger_reconciles(records).held


SETTLE_WITHIN_S = 10.0  # the reconciler looks every second; this bounds a slow run


def _payment_api_with_gateway(launcher, fake, gateway, timeout_s: float = 1.0):
    policy = {"policy_id": "POL-000001", "status": "active", "coverage_cents": 10**7}
    policies = fake({("GET", "/policies/POL-000001"): (200, policy)})
    others = fake()
    return launcher.start(
        service_config(
            "payment-api",
            launcher.run_dir,
            {
                "policy-api": policies.url,
                "claims-api": others.url,
                "customer-api": others.url,
                "payment-gateway": gateway.url,
            },
            timeout_s=timeout_s,
        )
    )


def _unsettled(payment_api) -> list[dict]:
    return httpx.get(
        f"{payment_api.url}/admin/integrity/records/unsettled_movements",
        headers=ADMIN_HEADERS,
    ).json()["records"]


def _log(payment_api) -> list[dict]:
    return httpx.get(f"{payment_api.url}/transactions").json()["transactions"]


def _wait_for(condition, within_s: float = SETTLE_WITHIN_S):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    return condition()


def test_a_charge_whose_answer_came_too_late_is_learnt_from_the_gateway(launcher, fake):
    charge = {
        "charge_id": "CH-000501",
        "amount_cents": 900,
        "reference": "POL-000001",
        "idempotency_key": "payment:late-1",
        "status": "captured",
    }
    found = {
        "found": [
            {"kind": "charges", "idempotency_key": "payment:late-1", "movement": charge}
        ],
        "missing": [],
    }
    gateway = fake(
        {
            ("POST", "/charges"): (201, charge),
            ("POST", "/movements/search"): (200, found),
        },
        delay_s=1.0,
    )
    payment_api = _payment_api_with_gateway(launcher, fake, gateway, timeout_s=0.3)
    body = {"policy_id": "POL-000001", "amount_cents": 900, "idempotency_key": "late-1"}

    timed_out = httpx.post(f"{payment_api.url}/payments", json=body, timeout=10)
    assert timed_out.status_code == 503
    assert [m["key"] for m in _unsettled(payment_api)] == ["late-1"]
    gateway.delay_s = 0.0  # the gateway answers in time again

    logged = _wait_for(lambda: _log(payment_api))
    assert [(e["gateway_id"], e["amount_cents"]) for e in logged] == [
        ("CH-000501", 900)
    ]
    assert _unsettled(payment_api) == []
    charges_asked = gateway.paths("POST").count("/charges")
    retried = httpx.post(f"{payment_api.url}/payments", json=body, timeout=10)
    assert retried.status_code == 201
    assert retried.json()["gateway_charge_id"] == "CH-000501"
    assert gateway.paths("POST").count("/charges") == charges_asked
    assert len(_log(payment_api)) == 1


def test_a_charge_the_gateway_never_made_stays_unsettled_until_a_retry(launcher, fake):
    nothing = {"found": [], "missing": [{"kind": "charges", "idempotency_key": "x"}]}
    gateway = fake(
        {
            ("POST", "/charges"): (502, {"error": "bad_gateway"}),
            ("POST", "/movements/search"): (200, nothing),
        }
    )
    payment_api = _payment_api_with_gateway(launcher, fake, gateway)
    body = {"policy_id": "POL-000001", "amount_cents": 700, "idempotency_key": "n-1"}

    assert httpx.post(f"{payment_api.url}/payments", json=body).status_code == 503
    assert _wait_for(lambda: "/movements/search" in gateway.paths("POST"))
    assert _log(payment_api) == []
    assert [m["key"] for m in _unsettled(payment_api)] == ["n-1"]

    gateway.answers[("POST", "/charges")] = (201, {"charge_id": "CH-000777"})
    retried = httpx.post(f"{payment_api.url}/payments", json=body, timeout=10)

    assert retried.status_code == 201
    assert _unsettled(payment_api) == []
    assert [e["gateway_id"] for e in _log(payment_api)] == ["CH-000777"]


def test_the_gateway_finds_movements_by_idempotency_key(estate):
    paid = _paid(estate, 3, "search-1", amount_cents=4_200)
    search = _post_to(
        estate,
        "payment-gateway",
        "/movements/search",
        {
            "movements": [
                {"kind": "charges", "idempotency_key": "payment:search-1"},
                {"kind": "payouts", "idempotency_key": "payment:search-1"},
            ]
        },
    )

    assert search.status_code == 200
    [found] = search.json()["found"]
    assert found["movement"]["charge_id"] == paid["gateway_charge_id"]
    assert search.json()["missing"] == [
        {"kind": "payouts", "idempotency_key": "payment:search-1"}
    ]
    empty = _post_to(estate, "payment-gateway", "/movements/search", {"movements": []})
    assert empty.status_code == 422
