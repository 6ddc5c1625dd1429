"""payment-api: payment methods, premium payments and claim disbursements.

Payments and disbursements are idempotent: the same idempotency_key with the
same request is one charge (or payout) and the same answer; the same key with
a different request is a 409. The key is passed on to the payment gateway, so
a retry after a crash between charging and saving still charges once.
"""

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from mocks.core.context import ServiceContext, ServiceSpec, add_route
from mocks.core.dependencies import DependencyCalls, Lookup
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
from mocks.errors import DependencyFailed, Rejected


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


class PaymentAPI:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.store = context.store
        self.payments = IdempotentCreates(context.store, "payments")
        self.disbursements = IdempotentCreates(context.store, "disbursements")

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
        answer = await calls.call(
            "payment-gateway",
            "POST",
            "/charges",
            {
                "amount_cents": payment.amount_cents,
                "reference": payment.policy_id,
                "idempotency_key": f"payment:{payment.idempotency_key}",
            },
            expect=(201,),
        )
        payment_id = numbered_id("PAY", self.store.next_number("payments"))
        body = {
            "payment_id": payment_id,
            **payment.model_dump(),
            "status": "captured",
            "policy_check": policy.check,
            "gateway_charge_id": answer.field("charge_id"),
            "created_at": utc_timestamp(),
        }
        return Created("payments", payment_id, body)

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
        answer = await calls.call(
            "payment-gateway",
            "POST",
            "/payouts",
            {
                "amount_cents": disbursement.amount_cents,
                "reference": disbursement.claim_id,
                "payee_name": payee.record["name"],
                "idempotency_key": f"disbursement:{disbursement.idempotency_key}",
            },
            expect=(201,),
        )
        disbursement_id = numbered_id("DSB", self.store.next_number("disbursements"))
        body = {
            "disbursement_id": disbursement_id,
            **disbursement.model_dump(),
            "customer_id": claim["customer_id"],
            "status": "paid",
            "payee_check": payee.check,
            "gateway_payout_id": answer.field("payout_id"),
            "created_at": utc_timestamp(),
        }
        return Created("disbursements", disbursement_id, body)

    async def get_payment(self, payment_id: str) -> dict:
        return found(self.store.get("payments", payment_id), "payment", payment_id)

    async def get_disbursement(self, disbursement_id: str) -> dict:
        record = self.store.get("disbursements", disbursement_id)
        return found(record, "disbursement", disbursement_id)


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
    return router


SPEC = ServiceSpec(
    name="payment-api",
    routes=routes,
    calls=("policy-api", "claims-api", "customer-api", "payment-gateway"),
    cacheable=frozenset({"policy-api", "customer-api"}),
)
