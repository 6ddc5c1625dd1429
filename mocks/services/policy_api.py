"""policy-api: policies, written for a known customer with a verified payment method."""

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from mocks.core.context import ServiceContext, ServiceSpec, add_route
from mocks.core.records import (
    CUSTOMER_ID,
    PositiveCents,
    found,
    numbered_id,
    utc_timestamp,
)
from mocks.core.seed import POLICIES
from mocks.errors import Rejected


class PaymentMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["card", "bank_account"]
    token: str = Field(min_length=1, max_length=64)


class NewPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(pattern=CUSTOMER_ID)
    product: Literal["home", "motor", "travel", "life"]
    coverage_cents: PositiveCents
    premium_cents: PositiveCents
    payment_method: PaymentMethod


class PolicyAPI:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.store = context.store

    async def create(self, policy: NewPolicy, request: Request) -> dict:
        calls = self.context.calls(request)
        customer_id = policy.customer_id
        customer = await calls.lookup(
            "customer-api", f"/customers/{customer_id}", customer_id
        )
        if customer.not_found:
            raise Rejected("customer_id", customer_id, "no such customer")
        method = await calls.call(
            "payment-api",
            "POST",
            "/payment-methods/verify",
            {"customer_id": customer_id, **policy.payment_method.model_dump()},
        )
        if method.field("verified") is not True:
            raise Rejected(
                "payment_method.token",
                policy.payment_method.token,
                "the payment gateway refused this payment method",
            )
        return self._save(policy, customer.check, method.body.get("method_token"))

    def _save(self, policy: NewPolicy, customer_check: str, method_token) -> dict:
        policy_id = numbered_id("POL", self.store.next_number("policies"))
        # A customer the cache fallback could not vouch for leaves the policy
        # pending until someone checks the customer.
        status = "pending" if customer_check == "deferred" else "active"
        record = {
            "policy_id": policy_id,
            **policy.model_dump(mode="json", exclude={"payment_method"}),
            "status": status,
            "customer_check": customer_check,
            "payment_method_token": method_token,
            "start_date": utc_timestamp()[:10],
            "created_at": utc_timestamp(),
        }
        self.store.put("policies", policy_id, record)
        return record

    async def get(self, policy_id: str) -> dict:
        return found(self.store.get("policies", policy_id), "policy", policy_id)


def routes(context: ServiceContext) -> APIRouter:
    api = PolicyAPI(context)
    router = APIRouter()
    add_route(router, "POST", "/policies", api.create, 201, (422, 503))
    add_route(router, "GET", "/policies/{policy_id}", api.get, 200, (404,))
    return router


SPEC = ServiceSpec(
    name="policy-api",
    routes=routes,
    calls=("customer-api", "payment-api"),
    cacheable=frozenset({"customer-api"}),
    seed=POLICIES,
)
