"""Storage and seeded data: deterministic, seeded once, kept across restarts."""

import signal

import httpx
import pytest
from mock_processes import service_config

from mocks.config import SeedConfig
from mocks.core.seed import CUSTOMERS, ensure_seeded, seeded_customer, seeded_policy
from mocks.core.storage import Store
from mocks.errors import ConfigError

SEED = 20261204


def test_seeded_records_are_the_same_for_the_same_seed_and_differ_for_another():
    assert seeded_customer(SEED, 42) == seeded_customer(SEED, 42)
    assert seeded_policy(SEED, 42) == seeded_policy(SEED, 42)
    assert seeded_customer(SEED, 42) != seeded_customer(SEED + 1, 42)
    assert seeded_policy(SEED, 42) != seeded_policy(SEED + 1, 42)


def test_every_seeded_policy_is_active_covered_and_owned_by_its_customer():
    for number in range(1, 2001):
        policy = seeded_policy(SEED, number)
        customer = seeded_customer(SEED, number)

        assert policy["policy_id"] == f"POL-{number:06d}"
        assert policy["customer_id"] == customer["customer_id"] == f"CUST-{number:06d}"
        assert policy["status"] == "active"
        assert policy["coverage_cents"] >= 1_000_000
        assert 0 < policy["premium_cents"] < policy["coverage_cents"]
        assert customer["email"].endswith("@example.com")


def test_seeding_happens_once_and_refuses_another_seed_later(tmp_path):
    store = Store(tmp_path / "customer-api.sqlite3")
    store.open()
    ensure_seeded(store, CUSTOMERS, SeedConfig(SEED, 20))
    store.put("customers", "CUST-000001", {"changed": True})

    ensure_seeded(store, CUSTOMERS, SeedConfig(SEED, 20))

    assert store.get("customers", "CUST-000001") == {"changed": True}
    assert store.count("customers") == 20
    assert store.next_number("customers") == 21
    with pytest.raises(ConfigError, match="field 'seed'.*fresh data_dir"):
        ensure_seeded(store, CUSTOMERS, SeedConfig(SEED + 1, 20))
    store.close()


def test_a_failed_transaction_writes_nothing(tmp_path):
    store = Store(tmp_path / "x.sqlite3")
    store.open()

    with pytest.raises(RuntimeError), store.transaction():
        store.put("claims", "CLM-000001", {"a": 1})
        raise RuntimeError("interrupted")

    assert store.get("claims", "CLM-000001") is None
    store.close()


def test_two_fresh_starts_with_one_seed_serve_identical_records(launcher, tmp_path):
    first = launcher.start(service_config("policy-api", tmp_path / "a", _unused()))
    second = launcher.start(service_config("policy-api", tmp_path / "b", _unused()))

    for number in (1, 777, 2000):
        path = f"/policies/POL-{number:06d}"
        assert httpx.get(first.url + path).json() == httpx.get(second.url + path).json()
    assert httpx.get(first.url + "/policies/POL-002001").status_code == 404


def _stop_cleanly(process) -> None:
    # uvicorn shuts down gracefully, then ends by the SIGTERM it was sent.
    assert process.stop() == -signal.SIGTERM
    assert f"{process.name} stopped" in process.stderr()


def _unused() -> dict[str, str]:
    return {"customer-api": "http://127.0.0.1:9", "payment-api": "http://127.0.0.1:9"}


def test_data_and_idempotency_keys_survive_a_restart(launcher, tmp_path):
    config = service_config("payment-gateway", tmp_path, {})
    gateway = launcher.start(config)
    charge = {"amount_cents": 900, "reference": "POL-000001", "idempotency_key": "r-1"}
    before = httpx.post(f"{gateway.url}/charges", json=charge).json()
    _stop_cleanly(gateway)

    restarted = launcher.start(config)

    served = httpx.get(f"{restarted.url}/charges/{before['charge_id']}")
    replayed = httpx.post(f"{restarted.url}/charges", json=charge)
    fresh = httpx.post(
        f"{restarted.url}/charges", json={**charge, "idempotency_key": "r-2"}
    )
    assert served.json() == before
    assert replayed.json() == before
    assert fresh.json()["charge_id"] == "CH-000002"


def test_a_created_customer_survives_a_restart_and_seeding_is_not_redone(
    launcher, tmp_path, fake
):
    identity = fake(
        {("POST", "/verify"): (200, {"verified": True, "reference": "IDV-1"})}
    )
    crm = fake({("POST", "/contacts"): (201, {"contact_id": "CRM-1"})})
    urls = {"identity-verification": identity.url, "crm": crm.url}
    config = service_config("customer-api", tmp_path, urls)
    customers = launcher.start(config)
    person = {
        "name": "Pim Orwin",
        "email": "pim@example.com",
        "date_of_birth": "1970-05-06",
    }
    created = httpx.post(f"{customers.url}/customers", json=person).json()
    _stop_cleanly(customers)

    restarted = launcher.start(config)

    served = httpx.get(f"{restarted.url}/customers/{created['customer_id']}")
    another = httpx.post(f"{restarted.url}/customers", json=person).json()
    assert served.json() == created
    assert (created["customer_id"], another["customer_id"]) == (
        "CUST-002001",
        "CUST-002002",
    )
    assert "seeded data present" in restarted.stderr()


def test_a_restart_with_another_seed_exits_naming_the_seed(launcher, tmp_path):
    config = service_config("policy-api", tmp_path, _unused())
    launcher.start(config).stop()
    config["seed"] = {"random_seed": SEED + 1, "customers": 2000}

    process = launcher.prepare(config).start()
    returncode = process.process.wait(timeout=20)

    assert returncode != 0
    assert "field 'seed'" in process.stderr()
