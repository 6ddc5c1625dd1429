"""Integrity invariants: they hold on clean data and fail on planted damage."""

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx
import pytest
from mock_processes import ADMIN_TOKEN, Launcher, MockProcess, estate_configs

from harness.integrity import (
    StoredRecords,
    accepted_claims_stored,
    check_all,
    committed_records_present,
    keys_charged_once,
    ledger_reconciles,
)

TODAY = date.today().isoformat()
# Long enough for payment-api's reconciler, which looks every second, to act.
RECONCILER_TICKS_S = 2.5


def _claim(number: int) -> dict:
    return {
        "policy_id": f"POL-{number:06d}",
        "customer_id": f"CUST-{number:06d}",
        "amount_cents": 30_000,
        "description": "Windscreen cracked by a stone",
        "incident_date": TODAY,
    }


@pytest.fixture(scope="module")
def money(tmp_path_factory) -> Iterator[dict]:
    """An estate of its own that has taken payments, refunds and payouts."""
    launcher = Launcher(tmp_path_factory.mktemp("integrity"))
    try:
        processes = launcher.start_all(estate_configs(launcher.run_dir).values())
        estate = {process.name: process for process in processes}
        accepted = _make_traffic(estate)
        yield {
            "estate": estate,
            "accepted": accepted,
            "data": launcher.run_dir / "data",
            "launcher": launcher,
        }
    finally:
        launcher.stop_all()


def _make_traffic(estate: dict[str, MockProcess]) -> list[str]:
    payments, claims = estate["payment-api"].url, estate["claims-api"].url
    for number in range(1, 6):
        body = {
            "policy_id": f"POL-{number:06d}",
            "amount_cents": 1_000 * number,
            "idempotency_key": f"premium-{number}",
        }
        paid = httpx.post(f"{payments}/payments", json=body, timeout=10).json()
        httpx.post(
            f"{payments}/refunds",
            json={
                "payment_id": paid["payment_id"],
                "amount_cents": 100,
                "reason": "overpaid",
                "idempotency_key": f"refund-{number}",
            },
            timeout=10,
        ).raise_for_status()
    accepted = []
    for number in range(10, 16):
        claim = httpx.post(f"{claims}/claims", json=_claim(number), timeout=10)
        assert claim.status_code == 201
        accepted.append(claim.json()["claim_id"])
    httpx.post(f"{claims}/claims/{accepted[0]}/payout", timeout=10).raise_for_status()
    return accepted


def _records(estate: dict[str, MockProcess]) -> StoredRecords:
    return StoredRecords({name: p.url for name, p in estate.items()}, ADMIN_TOKEN)


@contextmanager
def _planted(database: Path, damage: tuple, repair: tuple) -> Iterator[None]:
    """Damage a service's database behind its back, and repair it afterwards.

    damage and repair are each (SQL, parameters).
    """
    with sqlite3.connect(database) as db:
        db.execute(*damage)
    try:
        yield
    finally:
        with sqlite3.connect(database) as db:
            db.execute(*repair)


def test_every_invariant_holds_on_the_data_the_services_wrote(money):
    results = check_all(_records(money["estate"]), money["accepted"])

    assert [r.name for r in results] == [
        "keys_charged_once",
        "accepted_claims_stored",
        "ledger_reconciles",
        "committed_records_present",
        "customers_verified",
    ]
    assert all(r.held and r.violations == 0 for r in results), results
    assert all(r.checked > 0 for r in results), results


def test_a_planted_double_charge_breaks_keys_charged_once_and_the_ledger(money):
    gateway_db = money["data"] / "payment-gateway.sqlite3"
    double = (
        '{"charge_id": "CH-900001", "amount_cents": 1000, "reference": "POL-000001",'
        ' "idempotency_key": "payment:premium-1", "status": "captured"}'
    )
    insert = "INSERT INTO records (kind, id, body) VALUES ('charges', 'CH-900001', ?)"
    delete = "DELETE FROM records WHERE kind = 'charges' AND id = 'CH-900001'"

    with _planted(gateway_db, (insert, (double,)), (delete, ())):
        charged = keys_charged_once(_records(money["estate"]))
        ledger = ledger_reconciles(_records(money["estate"]))

    assert not charged.held
    assert charged.violations == 1
    assert charged.examples[0]["idempotency_key"] == "payment:premium-1"
    assert charged.examples[0]["times"] == 2
    assert not ledger.held
    assert ledger.examples == [
        {"gateway_id": "CH-900001", "problem": "not in the transaction log"}
    ]


def test_a_charge_payment_api_never_asked_for_stays_out_of_its_log(money):
    """The reconciler settles only attempts payment-api wrote down: it does not
    adopt whatever the gateway holds, so a charge really missing from the log
    keeps breaking ledger_reconciles."""
    gateway = money["estate"]["payment-gateway"].url
    charged = httpx.post(
        f"{gateway}/charges",
        json={
            "amount_cents": 1234,
            "reference": "POL-000001",
            "idempotency_key": "payment:never-asked-1",
        },
        timeout=10,
    )
    assert charged.status_code == 201
    charge_id = charged.json()["charge_id"]
    gateway_db = money["data"] / "payment-gateway.sqlite3"
    nothing = ("SELECT 1", ())
    repair = ("DELETE FROM records WHERE kind = 'charges' AND id = ?", (charge_id,))
    with _planted(gateway_db, nothing, repair):
        time.sleep(RECONCILER_TICKS_S)
        ledger = ledger_reconciles(_records(money["estate"]))

    assert not ledger.held
    assert ledger.examples == [
        {"gateway_id": charge_id, "problem": "not in the transaction log"}
    ]


def test_a_dropped_claim_breaks_accepted_claims_stored(money):
    claims_db = money["data"] / "claims-api.sqlite3"
    dropped = money["accepted"][-1]
    row = (
        sqlite3.connect(claims_db)
        .execute(
            "SELECT body FROM records WHERE kind = 'claims' AND id = ?", (dropped,)
        )
        .fetchone()[0]
    )
    delete = "DELETE FROM records WHERE kind = 'claims' AND id = ?"
    restore = "INSERT INTO records (kind, id, body) VALUES ('claims', ?, ?)"

    with _planted(claims_db, (delete, (dropped,)), (restore, (dropped, row))):
        result = accepted_claims_stored(_records(money["estate"]), money["accepted"])

    assert not result.held
    assert (result.checked, result.violations) == (len(money["accepted"]), 1)
    assert result.examples == [{"claim_id": dropped}]


def test_a_changed_amount_breaks_ledger_reconciles(money):
    gateway_db = money["data"] / "payment-gateway.sqlite3"
    change = (
        "UPDATE records SET body = json_set(body, '$.amount_cents', "
        "json_extract(body, '$.amount_cents') + ?) "
        "WHERE kind = 'charges' AND id = 'CH-000002'"
    )

    with _planted(gateway_db, (change, (1,)), (change, (-1,))):
        result = ledger_reconciles(_records(money["estate"]))

    assert not result.held
    assert result.examples[0]["gateway_id"] == "CH-000002"
    assert result.examples[0]["problem"] == "amounts differ"
    assert result.examples[0]["gateway_cents"] == result.examples[0]["log_cents"] + 1


def test_a_lost_disbursement_breaks_committed_records_present(money):
    payment_db = money["data"] / "payment-api.sqlite3"
    lost = (
        sqlite3.connect(payment_db)
        .execute("SELECT id, body FROM records WHERE kind = 'disbursements'")
        .fetchone()
    )

    delete = "DELETE FROM records WHERE kind = 'disbursements' AND id = ?"
    restore = "INSERT INTO records (kind, id, body) VALUES ('disbursements', ?, ?)"

    with _planted(payment_db, (delete, lost[:1]), (restore, lost)):
        result = committed_records_present(_records(money["estate"]))

    assert not result.held
    assert result.examples == [
        {"service": "payment-api", "kind": "disbursement", "id": lost[0]}
    ]


def test_claims_answered_just_before_a_kill_survive_the_restart(money):
    claims = money["estate"]["claims-api"]
    accepted = [
        httpx.post(f"{claims.url}/claims", json=_claim(n), timeout=10).json()[
            "claim_id"
        ]
        for n in range(100, 120)
    ]

    os.kill(claims.process.pid, signal.SIGKILL)
    claims.wait_stopped()
    claims.start().wait_healthy()

    result = accepted_claims_stored(_records(money["estate"]), accepted)
    assert result.held, result
    assert result.checked == len(accepted)


def test_the_admin_read_routes_refuse_a_caller_without_the_token(money):
    url = money["estate"]["claims-api"].url + "/admin/integrity/records/claims"

    assert httpx.get(url).status_code == 401
