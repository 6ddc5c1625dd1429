"""claims-api: claim intake (coverage, identity, fraud score), adjudication, payout.

Intake checks coverage with policy-api, the claimant with customer-api and the
risk with fraud-detection. With the cache fallback on for policy-api or
customer-api, intake answers from earlier look-ups, or defers the check and
sends the claim to review instead of failing it. When fraud-detection fails
(down, too slow, a 5xx), the claim is still filed, never approved unchecked:
it goes to review with fraud_check "deferred" and the reason "fraud check
unavailable", and an adjuster decides it. A claim is approved at intake
when every check passes; otherwise an adjuster approves or denies it (POST
/claims/{id}/adjudication). An approved claim is paid out through payment-api.
Every change of status is kept in the claim's history.

Intake may carry an idempotency_key: a retried intake with the same key and
claim answers the claim already filed instead of filing a second one.
"""

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from mocks.core.context import ServiceContext, ServiceSpec, add_route
from mocks.core.dependencies import DependencyCalls
from mocks.core.idempotency import Created, IdempotentCreates
from mocks.core.records import (
    CUSTOMER_ID,
    POLICY_ID,
    IdempotencyKey,
    PositiveCents,
    found,
    numbered_id,
    utc_timestamp,
)
from mocks.errors import Conflict, DependencyFailed, Rejected

log = logging.getLogger(__name__)

# Why a claim filed while fraud-detection could not score it awaits an adjuster.
FRAUD_CHECK_UNAVAILABLE = "fraud check unavailable"


class NewClaim(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy_id: str = Field(pattern=POLICY_ID)
    customer_id: str = Field(pattern=CUSTOMER_ID)
    amount_cents: PositiveCents
    description: str = Field(min_length=1, max_length=2000)
    incident_date: date
    idempotency_key: IdempotencyKey | None = None

    def claim_fields(self) -> dict:
        return self.model_dump(mode="json", exclude={"idempotency_key"})


class Adjudication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "deny"]
    reason: str = Field(min_length=1, max_length=2000)
    # An adjuster may approve less than was claimed, never more.
    approved_amount_cents: PositiveCents | None = None


class ClaimsAPI:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.store = context.store
        self.intakes = IdempotentCreates(context.store, "claims")

    async def create(self, claim: NewClaim, request: Request) -> dict:
        if claim.idempotency_key is None:
            created = await self._intake(claim, request)
            self.store.put(created.kind, created.record_id, created.body)
            return created.body
        return await self.intakes.run(
            claim.idempotency_key,
            claim.claim_fields(),
            lambda: self._intake(claim, request),
        )

    async def _intake(self, claim: NewClaim, request: Request) -> Created:
        _check_incident_date(claim.incident_date)
        calls = self.context.calls(request)
        coverage_check = await _check_coverage(calls, claim)
        identity = await calls.lookup(
            "customer-api", f"/customers/{claim.customer_id}", claim.customer_id
        )
        if identity.not_found:
            raise Rejected("customer_id", claim.customer_id, "no such customer")
        checks = {"coverage_check": coverage_check, "identity_check": identity.check}
        fraud = await _fraud_score(calls, claim)
        return self._new_claim(claim, checks, fraud)

    def _new_claim(self, claim: NewClaim, checks: dict, fraud: dict) -> Created:
        decision = fraud["decision"]
        review_reasons = [
            f"{check} deferred"
            for check, value in checks.items()
            if value == "deferred"
        ]
        if decision is None:
            review_reasons.append(FRAUD_CHECK_UNAVAILABLE)
        elif decision != "accept":
            review_reasons.append(f"fraud decision {decision}")
        claim_id = numbered_id("CLM", self.store.next_number("claims"))
        status = "under_review" if review_reasons else "approved"
        record = {
            "claim_id": claim_id,
            "status": status,
            **checks,
            "fraud_check": "deferred" if decision is None else "verified",
            "fraud_score": fraud["score"],
            **({"fraud_check_error": fraud["error"]} if decision is None else {}),
            "review_reasons": review_reasons,
            **claim.claim_fields(),
            "created_at": utc_timestamp(),
            "history": [_step("submitted"), _step(status)],
        }
        return Created("claims", claim_id, record)

    async def get(self, claim_id: str) -> dict:
        return found(self.store.get("claims", claim_id), "claim", claim_id)

    async def status(self, claim_id: str) -> dict:
        claim = await self.get(claim_id)
        return {
            "claim_id": claim_id,
            "status": claim["status"],
            "history": claim.get("history", []),
        }

    async def adjudicate(self, claim_id: str, adjudication: Adjudication) -> dict:
        claim = await self.get(claim_id)
        if claim["status"] != "under_review":
            raise Conflict(
                f"claim {claim_id} has status {claim['status']!r}; only a claim "
                f"'under_review' is adjudicated"
            )
        approved = adjudication.approved_amount_cents or claim["amount_cents"]
        if approved > claim["amount_cents"]:
            raise Rejected(
                "approved_amount_cents",
                approved,
                f"at most the {claim['amount_cents']} cents claimed",
            )
        status = "approved" if adjudication.decision == "approve" else "denied"
        changed = {
            **claim,
            "status": status,
            "adjudication": {
                **adjudication.model_dump(),
                "decided_at": utc_timestamp(),
            },
            "history": [*claim.get("history", []), _step(status)],
        }
        if status == "approved":
            changed["amount_cents"] = approved
            changed["claimed_amount_cents"] = claim["amount_cents"]
        self.store.put("claims", claim_id, changed)
        return changed

    async def payout(self, claim_id: str, request: Request):
        claim = found(self.store.get("claims", claim_id), "claim", claim_id)
        if claim["status"] == "paid":
            return JSONResponse(claim["payout"], status_code=200)
        if claim["status"] != "approved":
            raise Conflict(
                f"claim {claim_id} has status {claim['status']!r}; "
                f"a payout needs status 'approved'"
            )
        disbursement = await self.context.calls(request).call(
            "payment-api",
            "POST",
            "/disbursements",
            {
                "claim_id": claim_id,
                "amount_cents": claim["amount_cents"],
                # One key per claim: a retried payout is the same disbursement.
                "idempotency_key": f"payout-{claim_id}",
            },
            expect=(201,),
        )
        return self._mark_paid(claim_id, disbursement.field("disbursement_id"))

    def _mark_paid(self, claim_id: str, disbursement_id) -> dict:
        with self.store.transaction():
            claim = self.store.get("claims", claim_id)
            payout = {
                "claim_id": claim_id,
                "status": "paid",
                "disbursement_id": disbursement_id,
                "amount_cents": claim["amount_cents"],
            }
            history = [*claim.get("history", []), _step("paid")]
            self.store.put(
                "claims",
                claim_id,
                {**claim, "status": "paid", "payout": payout, "history": history},
            )
        return payout


async def _fraud_score(calls: DependencyCalls, claim: NewClaim) -> dict:
    """score and decision; both None, with the error, when fraud-detection failed.

    Without a score a claim is never approved unchecked: it goes to review.
    """
    try:
        fraud = await calls.call(
            "fraud-detection", "POST", "/score", claim.claim_fields()
        )
        return {"score": fraud.field("score"), "decision": fraud.field("decision")}
    except DependencyFailed as failed:
        log.warning("claim sent to review without a fraud score: %s", failed)
        return {"score": None, "decision": None, "error": failed.reason}


def _step(status: str) -> dict:
    return {"status": status, "at": utc_timestamp()}


def _check_incident_date(incident_date: date) -> None:
    # A day of slack: a caller east of UTC may already be living tomorrow.
    latest = datetime.now(UTC).date() + timedelta(days=1)
    if incident_date > latest:
        raise Rejected(
            "incident_date",
            incident_date.isoformat(),
            f"a date on or before {latest.isoformat()} (today in UTC, plus a day)",
        )


async def _check_coverage(calls: DependencyCalls, claim: NewClaim) -> str:
    """verified, cached or deferred; Rejected if the policy does not cover it."""
    policy = await calls.lookup(
        "policy-api", f"/policies/{claim.policy_id}", claim.policy_id
    )
    if policy.not_found:
        raise Rejected("policy_id", claim.policy_id, "no such policy")
    if policy.record is not None:
        _check_policy_covers(policy.record, claim)
    return policy.check


def _check_policy_covers(policy: dict, claim: NewClaim) -> None:
    if policy.get("status") != "active":
        raise Rejected(
            "policy_id",
            claim.policy_id,
            f"policy status is {policy.get('status')!r}; a claim needs 'active'",
        )
    if policy.get("customer_id") != claim.customer_id:
        raise Rejected(
            "customer_id", claim.customer_id, "the policy belongs to another customer"
        )
    coverage_cents = policy.get("coverage_cents", 0)
    if claim.amount_cents > coverage_cents:
        raise Rejected(
            "amount_cents",
            claim.amount_cents,
            f"at most the policy's coverage of {coverage_cents} cents",
        )


def routes(context: ServiceContext) -> APIRouter:
    api = ClaimsAPI(context)
    router = APIRouter()
    add_route(router, "POST", "/claims", api.create, 201, (409, 422, 503))
    add_route(router, "GET", "/claims/{claim_id}", api.get, 200, (404,))
    add_route(router, "GET", "/claims/{claim_id}/status", api.status, 200, (404,))
    add_route(
        router,
        "POST",
        "/claims/{claim_id}/adjudication",
        api.adjudicate,
        200,
        (404, 409, 422),
    )
    add_route(
        router,
        "POST",
        "/claims/{claim_id}/payout",
        api.payout,
        201,
        (200, 404, 409, 503),
    )
    return router


SPEC = ServiceSpec(
    name="claims-api",
    routes=routes,
    calls=("policy-api", "customer-api", "payment-api", "fraud-detection"),
    cacheable=frozenset({"policy-api", "customer-api"}),
)
