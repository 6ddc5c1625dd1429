"""Idempotency keys: one charge per key, the same answer, 409 for a changed body."""

import asyncio

import httpx


def _charges(estate) -> float:
    return estate["payment-gateway"].metric(
        "http_requests_total", route="/charges", method="POST", code="201"
    )


def _pay(estate, body: dict) -> httpx.Response:
    return httpx.post(f"{estate['payment-api'].url}/payments", json=body, timeout=10)


def test_the_same_key_and_body_is_one_charge_and_the_same_answer(estate):
    body = {"policy_id": "POL-000030", "amount_cents": 4_200, "idempotency_key": "k-30"}
    charges_before = _charges(estate)

    first = _pay(estate, body)
    again = _pay(estate, body)

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert _charges(estate) == charges_before + 1


def test_the_same_key_with_another_body_is_409_and_charges_nothing(estate):
    body = {"policy_id": "POL-000031", "amount_cents": 4_200, "idempotency_key": "k-31"}
    _pay(estate, body)
    charges_before = _charges(estate)

    changed = _pay(estate, {**body, "amount_cents": 9_900})

    assert changed.status_code == 409
    assert "'k-31'" in changed.json()["detail"]
    assert _charges(estate) == charges_before


def test_concurrent_retries_with_one_key_charge_once(estate):
    body = {"policy_id": "POL-000032", "amount_cents": 1_500, "idempotency_key": "k-32"}
    charges_before = _charges(estate)

    async def retry_together() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=10) as client:
            url = f"{estate['payment-api'].url}/payments"
            return await asyncio.gather(
                *(client.post(url, json=body) for _ in range(8))
            )

    answers = asyncio.run(retry_together())

    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.json()["payment_id"] for answer in answers}) == 1
    assert _charges(estate) == charges_before + 1
    payment_id = answers[0].json()["payment_id"]
    served = httpx.get(f"{estate['payment-api'].url}/payments/{payment_id}")
    assert served.json() == answers[0].json()


def test_the_gateway_itself_charges_once_per_key(estate):
    charge = {"amount_cents": 700, "reference": "POL-000033", "idempotency_key": "g-33"}
    url = f"{estate['payment-gateway'].url}/charges"

    first = httpx.post(url, json=charge)
    again = httpx.post(url, json=charge)
    changed = httpx.post(url, json={**charge, "amount_cents": 800})

    assert first.json()["charge_id"] == again.json()["charge_id"]
    assert changed.status_code == 409
