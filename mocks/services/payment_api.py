"""payment-api: payment methods, premiums, refunds and claim disbursements.

A premium is paid at once (POST /payments) or authorised and captured later
(POST /authorizations, then POST /authorizations/{id}/capture); a payment can
be refunded (POST /refunds); an approved claim is paid out (POST
/disbursements). Every one of these is idempotent: the same idempotency_key
with the same request is one money movement and the same answer; the same key
with a different request is a 409 naming the key; a failure (such as the
gateway's 5xx) is not remembered, so a retry can succeed. The key is passed on
to the payment gateway, so a retry after a crash between moving the money and
saving the record still moves it once.

Every money movement is written to the transaction log (GET /transactions) in
the same SQLite transaction as its record; GET /reconciliation compares that
log with the gateway's ledger.

Before asking the gateway to move money, payment-api writes the attempt down
(an unsettled movement: the request, its idempotency key and the gateway's
key). The record made from the gateway's answer removes it in the same
transaction. When the answer never comes (a timeout, a crash), a reconciler
asks the gateway every second (POST /movements/search) which unsettled
movements it made, and records those exactly as the answer would have, under
the client's idempotency key, so a later retry with the key gets that record
and the transaction log agrees with the gateway once the gateway answers again.

Known shortcomings: an unsettled movement the gateway has never heard of
counts as not made after 30 s, so a request held up on its way to the gateway
for longer would move money the log never records; and two captures of one
authorization (or refunds of one payment) with different keys at the same
moment can both pass the check here, so the gateway refuses the excess and
this answers 503 rather than 422.
"""

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from mocks.core.context import ServiceContext, ServiceSpec, add_route
from mocks.core.dependencies import Answer, DependencyCalls, Lookup
from mocks.core.idempotency import Created, IdempotentCreates
from mocks.core.records import (
    CLAIM_ID,
    CUSTOMER_ID,
    POLICY_ID,
    IdempotencyKey,
    PositiveCents,
    found,
    numbered_id,
    utc_timestamp,
)
from mocks.core.tracing import TraceContext
from mocks.errors import DependencyFailed, Rejected

log = logging.getLogger(__name__)

_PAGE_LIMIT_MAX = 5000
# Markers of money movements asked of the gateway whose outcome is not known yet.
UNSETTLED = "unsettled_movements"
# How often the reconciler asks the gateway about unsettled movements, and how
# long one the gateway has never heard of is kept before it counts as not made.
SETTLE_EVERY_S = 1.0
FORGET_UNMADE_AFTER_S = 30.0
# At most this many movements asked about in one search (the gateway's cap).
_SEARCH_MAX = 500
# The gateway's kinds of money movement, and the field naming each movement.
GATEWAY_LEDGER = {
    "charges": "charge_id",
    "captures": "capture_id",
    "refunds": "refund_id",
    "payouts": "payout_id",
}


class MethodToVerify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(pattern=CUSTOMER_ID)
    type: Literal["card", "bank_account"]
    token: str = Field(min_length=1, max_length=64)


class NewPayment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy_id: str = Field(pattern=POLICY_ID)
    amount_cents: PositiveCents
    idempotency_key: IdempotencyKey


class NewDisbursement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim_id: str = Field(pattern=CLAIM_ID)
    amount_cents: PositiveCents
    idempotency_key: IdempotencyKey


class NewAuthorization(NewPayment):
    """A premium held on the method, captured later: the fields of a payment."""


class NewCapture(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: PositiveCents
    idempotency_key: IdempotencyKey


class NewRefund(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_id: str = Field(pattern=r"^PAY-\d{6,}$")
    amount_cents: PositiveCents
    reason: str = Field(min_length=1, max_length=500)
    idempotency_key: IdempotencyKey


class PaymentAPI:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.store = context.store
        self.payments = IdempotentCreates(context.store, "payments")
        self.disbursements = IdempotentCreates(context.store, "disbursements")
        self.authorizations = IdempotentCreates(context.store, "authorizations")
        self.captures = IdempotentCreates(context.store, "captures")
        self.refunds = IdempotentCreates(context.store, "refunds")

    async def verify_method(self, method: MethodToVerify, request: Request) -> dict:
        answer = await self.context.calls(request).call(
            "payment-gateway",
            "POST",
            "/verify",
            {"type": method.type, "token": method.token},
        )
        return {
            "customer_id": method.customer_id,
            "type": method.type,
            "verified": answer.field("verified"),
            "method_token": answer.body.get("method_token"),
        }

    async def pay(self, payment: NewPayment, request: Request) -> dict:
        calls = self.context.calls(request)
        return await self.payments.run(
            payment.idempotency_key,
            payment.model_dump(),
            lambda: self._charge(calls, payment),
        )

    async def _charge(self, calls: DependencyCalls, payment: NewPayment) -> Created:
        policy = await _policy_to_charge(calls, payment.policy_id)
        request = payment.model_dump()
        facts = {"policy_check": policy.check}
        charge_id = await self._move(
            "payments",
            request,
            facts,
            "charges",
            {
                "amount_cents": payment.amount_cents,
                "reference": payment.policy_id,
                "idempotency_key": f"payment:{payment.idempotency_key}",
            },
            lambda payload: calls.call(
                "payment-gateway", "POST", "/charges", payload, expect=(201,)
            ),
        )
        return self._paid(request, facts, charge_id)

    def _paid(self, request: dict, facts: dict, charge_id: str) -> Created:
        payment_id = numbered_id("PAY", self.store.next_number("payments"))
        body = {
            "payment_id": payment_id,
            **request,
            "status": "captured",
            "policy_check": facts["policy_check"],
            "gateway_charge_id": charge_id,
            "refunded_cents": 0,
            "created_at": utc_timestamp(),
        }
        entry = self._log_entry("premium", body, "payment_id", "gateway_charge_id")
        return Created(
            "payments", payment_id, body, (entry,), _settles("payments", request)
        )

    async def disburse(self, disbursement: NewDisbursement, request: Request) -> dict:
        calls = self.context.calls(request)
        return await self.disbursements.run(
            disbursement.idempotency_key,
            disbursement.model_dump(),
            lambda: self._pay_out(calls, disbursement),
        )

    async def _pay_out(
        self, calls: DependencyCalls, disbursement: NewDisbursement
    ) -> Created:
        claim = await _claim_to_pay(calls, disbursement)
        payee = await _payee(calls, claim)
        request = disbursement.model_dump()
        facts = {"customer_id": claim["customer_id"], "payee_check": payee.check}
        payout_id = await self._move(
            "disbursements",
            request,
            facts,
            "payouts",
            {
                "amount_cents": disbursement.amount_cents,
                "reference": disbursement.claim_id,
                "payee_name": payee.record["name"],
                "idempotency_key": f"disbursement:{disbursement.idempotency_key}",
            },
            lambda payload: calls.call(
                "payment-gateway", "POST", "/payouts", payload, expect=(201,)
            ),
        )
        return self._disbursed(request, facts, payout_id)

    def _disbursed(self, request: dict, facts: dict, payout_id: str) -> Created:
        disbursement_id = numbered_id("DSB", self.store.next_number("disbursements"))
        body = {
            "disbursement_id": disbursement_id,
            **request,
            "customer_id": facts["customer_id"],
            "status": "paid",
            "payee_check": facts["payee_check"],
            "gateway_payout_id": payout_id,
            "created_at": utc_timestamp(),
        }
        entry = self._log_entry(
            "disbursement", body, "disbursement_id", "gateway_payout_id"
        )
        return Created(
            "disbursements",
            disbursement_id,
            body,
            (entry,),
            _settles("disbursements", request),
        )

    async def authorize(self, held: NewAuthorization, request: Request) -> dict:
        calls = self.context.calls(request)

        async def create() -> Created:
            policy = await _policy_to_charge(calls, held.policy_id)
            answer = await calls.call(
                "payment-gateway",
                "POST",
                "/authorizations",
                {
                    "amount_cents": held.amount_cents,
                    "reference": held.policy_id,
                    "idempotency_key": f"authorization:{held.idempotency_key}",
                },
                expect=(201,),
            )
            number = self.store.next_number("authorizations")
            body = {
                "authorization_id": numbered_id("AUT", number),
                **held.model_dump(),
                "status": "authorized",
                "captured_cents": 0,
                "policy_check": policy.check,
                "gateway_authorization_id": answer.field("authorization_id"),
                "created_at": utc_timestamp(),
            }
            return Created("authorizations", body["authorization_id"], body)

        return await self.authorizations.run(
            held.idempotency_key, held.model_dump(), create
        )

    async def capture(
        self, authorization_id: str, capture: NewCapture, request: Request
    ) -> dict:
        calls = self.context.calls(request)
        fields = {"authorization_id": authorization_id, **capture.model_dump()}

        async def create() -> Created:
            held = await self.get_authorization(authorization_id)
            left = held["amount_cents"] - held["captured_cents"]
            if capture.amount_cents > left:
                raise Rejected(
                    "amount_cents",
                    capture.amount_cents,
                    f"at most the {left} cents still held by {authorization_id}",
                )
            capture_id = await self._move(
                "captures",
                fields,
                {},
                "captures",
                {
                    "amount_cents": capture.amount_cents,
                    "idempotency_key": f"capture:{capture.idempotency_key}",
                },
                lambda payload: calls.call(
                    "payment-gateway",
                    "POST",
                    f"/authorizations/{held['gateway_authorization_id']}/captures",
                    payload,
                    expect=(201,),
                ),
            )
            return self._captured(fields, {}, capture_id)

        return await self.captures.run(capture.idempotency_key, fields, create)

    def _captured(self, request: dict, facts: dict, charge_id: str) -> Created:
        # Read again: another capture of the same authorization may have
        # landed while the gateway was answering this one.
        held = self.store.get("authorizations", request["authorization_id"])
        payment_id = numbered_id("PAY", self.store.next_number("payments"))
        body = {
            "payment_id": payment_id,
            "policy_id": held["policy_id"],
            "amount_cents": request["amount_cents"],
            "idempotency_key": request["idempotency_key"],
            "authorization_id": held["authorization_id"],
            "status": "captured",
            "policy_check": held["policy_check"],
            "gateway_charge_id": charge_id,
            "refunded_cents": 0,
            "created_at": utc_timestamp(),
        }
        captured = held["captured_cents"] + request["amount_cents"]
        changed = {**held, "captured_cents": captured}
        entry = self._log_entry("capture", body, "payment_id", "gateway_charge_id")
        updates = (("authorizations", held["authorization_id"], changed), entry)
        return Created(
            "payments", payment_id, body, updates, _settles("captures", request)
        )

    async def refund(self, refund: NewRefund, request: Request) -> dict:
        calls = self.context.calls(request)

        async def create() -> Created:
            paid = await self.get_payment(refund.payment_id)
            _check_refundable(paid, refund)
            refund_id = await self._move(
                "refunds",
                refund.model_dump(),
                {},
                "refunds",
                {
                    "charge_id": paid["gateway_charge_id"],
                    "amount_cents": refund.amount_cents,
                    "reference": refund.payment_id,
                    "idempotency_key": f"refund:{refund.idempotency_key}",
                },
                lambda payload: calls.call(
                    "payment-gateway", "POST", "/refunds", payload, expect=(201,)
                ),
            )
            return self._refunded(refund.model_dump(), {}, refund_id)

        return await self.refunds.run(
            refund.idempotency_key, refund.model_dump(), create
        )

    def _refunded(self, request: dict, facts: dict, gateway_refund_id: str) -> Created:
        paid = self.store.get("payments", request["payment_id"])
        refund_id = numbered_id("RFD", self.store.next_number("refunds"))
        body = {
            "refund_id": refund_id,
            **request,
            "policy_id": paid["policy_id"],
            "status": "refunded",
            "gateway_refund_id": gateway_refund_id,
            "created_at": utc_timestamp(),
        }
        refunded = paid.get("refunded_cents", 0) + request["amount_cents"]
        changed = {**paid, "refunded_cents": refunded}
        entry = self._log_entry("refund", body, "refund_id", "gateway_refund_id")
        updates = (("payments", request["payment_id"], changed), entry)
        return Created(
            "refunds", refund_id, body, updates, _settles("refunds", request)
        )

    async def _move(
        self,
        scope: str,
        request: dict,
        facts: dict,
        gateway_kind: str,
        payload: dict,
        call: Callable[[dict], Awaitable[Answer]],
    ) -> str:
        """Ask the gateway to move money; the gateway's ID of the movement.

        The attempt is written down first, so that if its outcome is never
        heard (a timeout, a crash) the reconciler can ask the gateway for it by
        idempotency key and record what was made. The record that the caller
        builds from the answer removes the marker in its own transaction.
        """
        self.store.put(
            UNSETTLED,
            _marker_id(scope, request["idempotency_key"]),
            {
                "scope": scope,
                "key": request["idempotency_key"],
                "request": request,
                "facts": facts,
                "gateway_kind": gateway_kind,
                "gateway_key": payload["idempotency_key"],
                "since": time.time(),
            },
        )
        answer = await call(payload)
        return answer.field(GATEWAY_LEDGER[gateway_kind])

    async def _search(self, calls: DependencyCalls, markers: list[dict]) -> Answer:
        return await calls.call(
            "payment-gateway",
            "POST",
            "/movements/search",
            {
                "movements": [
                    {"kind": m["gateway_kind"], "idempotency_key": m["gateway_key"]}
                    for m in markers
                ]
            },
            # One search a tick: a retried search would only add load on a
            # gateway that is already slow; the next tick asks again.
            idempotent=False,
        )

    def _builders(self) -> dict[str, tuple[IdempotentCreates, Callable]]:
        return {
            "payments": (self.payments, self._paid),
            "disbursements": (self.disbursements, self._disbursed),
            "captures": (self.captures, self._captured),
            "refunds": (self.refunds, self._refunded),
        }

    async def settle_movements(self) -> dict[str, int]:
        """Ask the gateway about every unsettled movement; record those it made.

        A movement the gateway never heard of stays unsettled until it is
        FORGET_UNMADE_AFTER_S old (a request slowed on its way may still land),
        then counts as not made. Answers how many markers ended which way.
        """
        markers = [body for _, body in self.store.page(UNSETTLED, "", _SEARCH_MAX)]
        outcomes: dict[str, int] = {}
        if not markers:
            return outcomes
        calls = self.context.dependencies.for_request(
            TraceContext.from_traceparent(None)
        )
        try:
            answer = await self._search(calls, markers)
        except DependencyFailed as failed:
            log.warning(
                "%s unsettled movement(s) wait: cannot ask the gateway: %s",
                len(markers),
                failed,
            )
            return {"waiting": len(markers)}
        made = {
            (found["kind"], found["idempotency_key"]): found["movement"]
            for found in answer.field("found")
        }
        builders = self._builders()
        for marker in markers:
            creates, build = builders[marker["scope"]]
            movement = made.get((marker["gateway_kind"], marker["gateway_key"]))
            if movement is not None:
                gateway_id = movement[GATEWAY_LEDGER[marker["gateway_kind"]]]
                made_it = _settled_by(build, marker, gateway_id)
            elif time.time() - marker["since"] >= FORGET_UNMADE_AFTER_S:
                made_it = None
            else:
                continue
            outcome = await creates.settle(
                marker["key"],
                marker["request"],
                (UNSETTLED, _marker_id(marker["scope"], marker["key"]), marker),
                made_it,
            )
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcomes.get("recorded") or outcomes.get("forgotten"):
            log.info("unsettled movements settled: %s", outcomes)
        return outcomes

    def _log_entry(
        self, kind: str, body: dict, id_field: str, gateway_field: str
    ) -> tuple[str, str, dict]:
        """A transaction-log line for a money movement, saved with its record."""
        transaction_id = numbered_id("TX", self.store.next_number("transactions"))
        entry = {
            "transaction_id": transaction_id,
            "kind": kind,
            "direction": "out" if kind in ("refund", "disbursement") else "in",
            "record_id": body[id_field],
            "amount_cents": body["amount_cents"],
            "idempotency_key": body["idempotency_key"],
            "gateway_id": body[gateway_field],
            "created_at": body["created_at"],
        }
        return ("transactions", transaction_id, entry)

    async def transactions(
        self,
        after: str = "",
        limit: int = Query(default=500, ge=1, le=_PAGE_LIMIT_MAX),
    ) -> dict:
        page = self.store.page("transactions", after, limit)
        return {
            "transactions": [entry for _, entry in page],
            "next_after": page[-1][0] if len(page) == limit else None,
        }

    async def reconciliation(self, request: Request) -> dict:
        """The transaction log against the gateway's ledger, movement by movement."""
        calls = self.context.calls(request)
        gateway: dict[str, dict] = {}
        for kind, id_field in GATEWAY_LEDGER.items():
            for movement in await _gateway_ledger(calls, kind):
                gateway[movement[id_field]] = movement
        ours = {
            entry["gateway_id"]: entry
            for _, entry in self.store.page("transactions", "", 10**9)
        }
        return reconcile(ours, gateway)

    async def get_authorization(self, authorization_id: str) -> dict:
        record = self.store.get("authorizations", authorization_id)
        return found(record, "authorization", authorization_id)

    async def get_refund(self, refund_id: str) -> dict:
        return found(self.store.get("refunds", refund_id), "refund", refund_id)

    async def get_payment(self, payment_id: str) -> dict:
        return found(self.store.get("payments", payment_id), "payment", payment_id)

    async def get_disbursement(self, disbursement_id: str) -> dict:
        record = self.store.get("disbursements", disbursement_id)
        return found(record, "disbursement", disbursement_id)


def _marker_id(scope: str, key: str) -> str:
    return f"{scope}:{key}"


def _settles(scope: str, request: dict) -> tuple[tuple[str, str], ...]:
    """The marker a movement's record removes: its outcome is known now."""
    return ((UNSETTLED, _marker_id(scope, request["idempotency_key"])),)


def _settled_by(
    build: Callable, marker: dict, gateway_id: str
) -> Callable[[], Created]:
    return lambda: build(marker["request"], marker["facts"], gateway_id)


def _check_refundable(paid: dict, refund: NewRefund) -> None:
    left = paid["amount_cents"] - paid.get("refunded_cents", 0)
    if refund.amount_cents > left:
        raise Rejected(
            "amount_cents",
            refund.amount_cents,
            f"at most the {left} cents of {refund.payment_id} not yet refunded",
        )


async def _gateway_ledger(calls: DependencyCalls, kind: str) -> list[dict]:
    movements, after = [], ""
    while after is not None:
        answer = await calls.call(
            "payment-gateway",
            "GET",
            f"/ledger/{kind}?after={after}&limit={_PAGE_LIMIT_MAX}",
        )
        movements.extend(answer.field("movements"))
        after = answer.body.get("next_after")
    return movements


def reconcile(ours: dict[str, dict], gateway: dict[str, dict]) -> dict:
    """Match log entries and gateway movements by gateway id, and their amounts."""
    missing = sorted(set(ours) - set(gateway))
    unknown = sorted(set(gateway) - set(ours))
    mismatched = sorted(
        gateway_id
        for gateway_id in set(ours) & set(gateway)
        if ours[gateway_id]["amount_cents"] != gateway[gateway_id]["amount_cents"]
    )
    return {
        "reconciled": not (missing or unknown or mismatched),
        "matched": len(set(ours) & set(gateway)) - len(mismatched),
        "missing_at_gateway": missing,
        "unknown_to_transaction_log": unknown,
        "amount_mismatches": mismatched,
    }


async def _policy_to_charge(calls: DependencyCalls, policy_id: str) -> Lookup:
    policy = await calls.lookup("policy-api", f"/policies/{policy_id}", policy_id)
    if policy.not_found:
        raise Rejected("policy_id", policy_id, "no such policy")
    if policy.record is None:
        raise DependencyFailed(
            "policy-api", f"cache fallback holds no copy of {policy_id} to charge"
        )
    if policy.record.get("status") != "active":
        raise Rejected(
            "policy_id",
            policy_id,
            f"policy status is {policy.record.get('status')!r}; "
            f"a payment needs 'active'",
        )
    return policy


async def _claim_to_pay(calls: DependencyCalls, disbursement: NewDisbursement) -> dict:
    claim_id = disbursement.claim_id
    claim = await calls.lookup("claims-api", f"/claims/{claim_id}", claim_id)
    if claim.record is None:
        raise Rejected("claim_id", claim_id, "no such claim")
    if claim.record.get("status") != "approved":
        raise Rejected(
            "claim_id",
            claim_id,
            f"claim status is {claim.record.get('status')!r}; "
            f"a disbursement needs 'approved'",
        )
    if disbursement.amount_cents > claim.record.get("amount_cents", 0):
        raise Rejected(
            "amount_cents",
            disbursement.amount_cents,
            f"at most the claim's amount of {claim.record.get('amount_cents')} cents",
        )
    return claim.record


async def _payee(calls: DependencyCalls, claim: dict) -> Lookup:
    customer_id = claim["customer_id"]
    payee = await calls.lookup("customer-api", f"/customers/{customer_id}", customer_id)
    if payee.not_found:
        raise Rejected(
            "claim_id", claim["claim_id"], f"its customer {customer_id} does not exist"
        )
    if payee.record is None:
        raise DependencyFailed(
            "customer-api", f"cache fallback holds no copy of payee {customer_id}"
        )
    return payee


def routes(context: ServiceContext) -> APIRouter:
    api = PaymentAPI(context)
    context.every("settling unsettled movements", SETTLE_EVERY_S, api.settle_movements)
    router = APIRouter()
    add_route(
        router, "POST", "/payment-methods/verify", api.verify_method, 200, (422, 503)
    )
    add_route(router, "POST", "/payments", api.pay, 201, (409, 422, 503))
    add_route(router, "GET", "/payments/{payment_id}", api.get_payment, 200, (404,))
    add_route(router, "POST", "/disbursements", api.disburse, 201, (409, 422, 503))
    add_route(
        router,
        "GET",
        "/disbursements/{disbursement_id}",
        api.get_disbursement,
        200,
        (404,),
    )
    add_route(router, "POST", "/authorizations", api.authorize, 201, (409, 422, 503))
    add_route(
        router,
        "GET",
        "/authorizations/{authorization_id}",
        api.get_authorization,
        200,
        (404,),
    )
    add_route(
        router,
        "POST",
        "/authorizations/{authorization_id}/capture",
        api.capture,
        201,
        (404, 409, 422, 503),
    )
    add_route(router, "POST", "/refunds", api.refund, 201, (404, 409, 422, 503))
    add_route(router, "GET", "/refunds/{refund_id}", api.get_refund, 200, (404,))
    add_route(router, "GET", "/transactions", api.transactions, 200, (422,))
    add_route(router, "GET", "/reconciliation", api.reconciliation, 200, (503,))
    return router


SPEC = ServiceSpec(
    name="payment-api",
    routes=routes,
    calls=("policy-api", "claims-api", "customer-api", "payment-gateway"),
    cacheable=frozenset({"policy-api", "customer-api"}),
)
