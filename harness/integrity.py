"""Data-integrity invariants, checked over HTTP after an experiment's load stops.

Each invariant reads what the mocks stored through their admin read routes
(/admin/integrity/...) and returns an InvariantResult: its name, whether it
held, how many items it checked, how many broke it, and a few examples.

- keys_charged_once: no idempotency key moved money twice, at the gateway or
  in payment-api's transaction log.
- accepted_claims_stored: every claim the API answered 201 for (the load
  writes their IDs down) is stored in claims-api.
- ledger_reconciles: payment-api's transaction log and the gateway's records
  match movement by movement, with the same amounts.
- committed_records_present: every record one service was told another had
  committed (a payment's policy, a disbursement's claim, a paid claim's
  disbursement) is still there, so no crash lost a committed write.
- customers_verified: every customer customer-api stores passed identity
  verification, so an outage of the provider refuses sign-ups rather than
  letting unverified people in.

Known shortcoming: every record of the kinds checked is read into memory,
which suits thousands of records, not millions.
"""

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from harness.errors import HarnessError

log = logging.getLogger(__name__)

EXAMPLES_KEPT = 5
PAGE_LIMIT = 5000
# Gateway record kinds that move money, and the field naming each record.
GATEWAY_MOVEMENTS = {
    "charges": "charge_id",
    "captures": "capture_id",
    "refunds": "refund_id",
    "payouts": "payout_id",
}


# Every invariant by the name experiments use in `expect.integrity`.
INVARIANTS = {
    "keys_charged_once": "no idempotency key moved money twice",
    "accepted_claims_stored": "every claim answered 201 is stored",
    "ledger_reconciles": "transaction log and gateway match, amounts included",
    "committed_records_present": "no record another service relies on is lost",
    "customers_verified": "no customer was stored without identity verification",
}


class IntegrityError(HarnessError):
    """A mock's admin read route could not be reached or answered an error."""


@dataclass(frozen=True)
class InvariantResult:
    """One invariant's outcome: held or not, with counts and a few examples."""

    name: str
    held: bool
    checked: int
    violations: int
    examples: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _result(name: str, checked: int, broken: list) -> InvariantResult:
    return InvariantResult(
        name, not broken, checked, len(broken), broken[:EXAMPLES_KEPT]
    )


class StoredRecords:
    """Reads every record of a kind from one mock's admin integrity route."""

    def __init__(
        self,
        urls: dict[str, str],
        admin_token: str,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.urls = urls
        self._client = httpx.Client(
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {admin_token}"},
            transport=transport,
            trust_env=False,
        )

    def close(self) -> None:
        self._client.close()

    def all(self, service: str, kind: str) -> list[dict]:
        records: list[dict] = []
        after: str | None = ""
        while after is not None:
            page = self._page(service, kind, after)
            records.extend(page["records"])
            after = page["next_after"]
        return records

    def _page(self, service: str, kind: str, after: str) -> dict:
        url = f"{self.urls[service]}/admin/integrity/records/{kind}"
        params = {"after": after, "limit": PAGE_LIMIT}
        try:
            response = self._client.get(url, params=params)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise IntegrityError(f"cannot read {kind} of {service}: {exc}") from exc
        return response.json()


def keys_charged_once(records: StoredRecords) -> InvariantResult:
    """No idempotency key behind more than one money movement."""
    uses: Counter = Counter()
    for kind in GATEWAY_MOVEMENTS:
        for movement in records.all("payment-gateway", kind):
            uses[("payment-gateway", kind, movement["idempotency_key"])] += 1
    for entry in records.all("payment-api", "transactions"):
        uses[("payment-api", entry["kind"], entry["idempotency_key"])] += 1
    broken = [
        {"service": service, "kind": kind, "idempotency_key": key, "times": times}
        for (service, kind, key), times in sorted(uses.items())
        if times > 1
    ]
    return _result("keys_charged_once", len(uses), broken)


def accepted_claims_stored(
    records: StoredRecords, accepted_ids: Iterable[str]
) -> InvariantResult:
    """Every claim ID the API accepted is a claim claims-api still holds."""
    accepted = sorted(set(accepted_ids))
    stored = {claim["claim_id"] for claim in records.all("claims-api", "claims")}
    missing = [
        {"claim_id": claim_id} for claim_id in accepted if claim_id not in stored
    ]
    return _result("accepted_claims_stored", len(accepted), missing)


def ledger_reconciles(records: StoredRecords) -> InvariantResult:
    """The transaction log and the gateway's records match, amounts included."""
    gateway = {
        movement[id_field]: movement
        for kind, id_field in GATEWAY_MOVEMENTS.items()
        for movement in records.all("payment-gateway", kind)
    }
    log_entries = {
        entry["gateway_id"]: entry
        for entry in records.all("payment-api", "transactions")
    }
    broken = [
        {"gateway_id": gateway_id, "problem": "not at the gateway"}
        for gateway_id in sorted(set(log_entries) - set(gateway))
    ]
    broken += [
        {"gateway_id": gateway_id, "problem": "not in the transaction log"}
        for gateway_id in sorted(set(gateway) - set(log_entries))
    ]
    broken += [
        {
            "gateway_id": gateway_id,
            "problem": "amounts differ",
            "log_cents": log_entries[gateway_id]["amount_cents"],
            "gateway_cents": gateway[gateway_id]["amount_cents"],
        }
        for gateway_id in sorted(set(gateway) & set(log_entries))
        if log_entries[gateway_id]["amount_cents"]
        != gateway[gateway_id]["amount_cents"]
    ]
    return _result("ledger_reconciles", len(set(gateway) | set(log_entries)), broken)


def committed_records_present(records: StoredRecords) -> InvariantResult:
    """Records another service was told were committed are all still there."""
    claims = {c["claim_id"]: c for c in records.all("claims-api", "claims")}
    disbursements = {
        d["disbursement_id"]: d for d in records.all("payment-api", "disbursements")
    }
    policies = {p["policy_id"] for p in records.all("policy-api", "policies")}
    references = [
        ("policy-api", "policy", payment["policy_id"], policies)
        for payment in records.all("payment-api", "payments")
    ]
    references += [
        ("claims-api", "claim", disbursement["claim_id"], claims)
        for disbursement in disbursements.values()
    ]
    references += [
        (
            "payment-api",
            "disbursement",
            claim["payout"]["disbursement_id"],
            disbursements,
        )
        for claim in claims.values()
        if "payout" in claim
    ]
    broken = [
        {"service": service, "kind": kind, "id": record_id}
        for service, kind, record_id, held in references
        if record_id not in held
    ]
    return _result("committed_records_present", len(references), broken)


def customers_verified(records: StoredRecords) -> InvariantResult:
    """Every stored customer passed identity verification."""
    customers = records.all("customer-api", "customers")
    broken = [
        {"customer_id": c["customer_id"], "identity_status": c.get("identity_status")}
        for c in customers
        if c.get("identity_status") != "verified"
    ]
    return _result("customers_verified", len(customers), broken)


def check_all(
    records: StoredRecords, accepted_claim_ids: Iterable[str]
) -> list[InvariantResult]:
    """Every invariant, in a fixed order."""
    results = [
        keys_charged_once(records),
        accepted_claims_stored(records, accepted_claim_ids),
        ledger_reconciles(records),
        committed_records_present(records),
        customers_verified(records),
    ]
    for result in results:
        if not result.held:
            log.warning(
                "invariant broken: %s (%s of %s) e.g. %s",
                result.name,
                result.violations,
                result.checked,
                result.examples,
            )
    return results


def read_accepted_ids(path: Path, kind: str) -> list[str]:
    """IDs of one kind the load saw accepted, from its JSON-lines file."""
    if not path.exists():
        return []
    ids = []
    for line in path.read_text().splitlines():
        # A line cut short by a killed load generator is no accepted record.
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("kind") == kind:
            ids.append(entry["id"])
    return ids
