"""policy-api: underwriting, changes, renewal and cancellation of policies.

A policy is written for a known customer (customer-api) with a payment method
the gateway accepts (through payment-api), and only inside the product's
underwriting limits. A policy in force can change its coverage and premium,
its payment method or beneficiary, be renewed for another year, or be
cancelled; a cancelled policy changes no more.

Known shortcoming: cancelling refunds no unearned premium; a refund is a
separate call to payment-api.
"""

from datetime import date, timedelta
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mocks.core.context import ServiceContext, ServiceSpec, add_route
from mocks.core.dependencies import DependencyCalls
from mocks.core.records import (
    CUSTOMER_ID,
    PositiveCents,
    found,
    numbered_id,
    utc_timestamp,
)
from mocks.core.seed import POLICIES, PRODUCTS
from mocks.errors import Conflict, Rejected

Product = Literal["home", "motor", "travel", "life"]
# The lowest premium written, as a share of the coverage, per year.
_MIN_PREMIUM_RATE = 0.001
_TERM = timedelta(days=365)
# How early a policy may be renewed before its term ends.
_RENEWAL_WINDOW = timedelta(days=90)


class PaymentMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["card", "bank_account"]
    token: str = Field(min_length=1, max_length=64)


class NewPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(pattern=CUSTOMER_ID)
    product: Product
    coverage_cents: PositiveCents
    premium_cents: PositiveCents
    payment_method: PaymentMethod


class PolicyChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_method: PaymentMethod | None = None
    beneficiary_name: str | None = Field(default=None, min_length=1, max_length=200)
    billing_frequency: Literal["monthly", "annual"] | None = None

    @model_validator(mode="after")
    def _something_changes(self) -> "PolicyChange":
        if not self.model_dump(exclude_none=True):
            raise ValueError(
                "give at least one of: payment_method, beneficiary_name, "
                "billing_frequency"
            )
        return self


class CoverageChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    coverage_cents: PositiveCents
    premium_cents: PositiveCents


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Literal["customer_request", "non_payment", "replaced", "fraud", "other"]


class PolicyAPI:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.store = context.store

    async def create(self, policy: NewPolicy, request: Request) -> dict:
        _underwrite(policy.product, policy.coverage_cents, policy.premium_cents)
        calls = self.context.calls(request)
        customer_id = policy.customer_id
        customer = await calls.lookup(
            "customer-api", f"/customers/{customer_id}", customer_id
        )
        if customer.not_found:
            raise Rejected("customer_id", customer_id, "no such customer")
        method_token = await _verified_method(calls, customer_id, policy.payment_method)
        return self._save(policy, customer.check, method_token)

    def _save(self, policy: NewPolicy, customer_check: str, method_token) -> dict:
        policy_id = numbered_id("POL", self.store.next_number("policies"))
        # A customer the cache fallback could not vouch for leaves the policy
        # pending until someone checks the customer.
        status = "pending" if customer_check == "deferred" else "active"
        today = date.fromisoformat(utc_timestamp()[:10])
        record = {
            "policy_id": policy_id,
            **policy.model_dump(mode="json", exclude={"payment_method"}),
            "status": status,
            "customer_check": customer_check,
            "payment_method_token": method_token,
            "start_date": today.isoformat(),
            "end_date": (today + _TERM).isoformat(),
            "created_at": utc_timestamp(),
        }
        self.store.put("policies", policy_id, record)
        return record

    async def get(self, policy_id: str) -> dict:
        return found(self.store.get("policies", policy_id), "policy", policy_id)

    async def status(self, policy_id: str) -> dict:
        policy = await self.get(policy_id)
        fields = ("policy_id", "status", "start_date", "end_date", "coverage_cents")
        return {field: policy.get(field) for field in fields}

    async def update(
        self, policy_id: str, change: PolicyChange, request: Request
    ) -> dict:
        policy = self._changeable(await self.get(policy_id))
        fields = change.model_dump(exclude_none=True, exclude={"payment_method"})
        if change.payment_method is not None:
            calls = self.context.calls(request)
            fields["payment_method_token"] = await _verified_method(
                calls, policy["customer_id"], change.payment_method
            )
        return self._put({**policy, **fields})

    async def change_coverage(self, policy_id: str, change: CoverageChange) -> dict:
        policy = self._changeable(await self.get(policy_id))
        _underwrite(policy["product"], change.coverage_cents, change.premium_cents)
        history = policy.get("coverage_history", [])
        earlier = {
            "coverage_cents": policy["coverage_cents"],
            "premium_cents": policy["premium_cents"],
            "until": utc_timestamp(),
        }
        changed = {**change.model_dump(), "coverage_history": [*history, earlier]}
        return self._put({**policy, **changed})

    async def renew(self, policy_id: str) -> dict:
        policy = self._changeable(await self.get(policy_id))
        end = date.fromisoformat(policy["end_date"])
        today = date.fromisoformat(utc_timestamp()[:10])
        if end - today > _RENEWAL_WINDOW:
            raise Conflict(
                f"policy {policy_id} ends on {end}; it can be renewed from "
                f"{end - _RENEWAL_WINDOW} on"
            )
        renewals = policy.get("renewals", 0) + 1
        new_end = (max(end, today) + _TERM).isoformat()
        return self._put({**policy, "end_date": new_end, "renewals": renewals})

    async def cancel(self, policy_id: str, cancellation: Cancellation) -> dict:
        policy = self._changeable(await self.get(policy_id))
        return self._put(
            {
                **policy,
                "status": "cancelled",
                "cancellation_reason": cancellation.reason,
                "cancelled_at": utc_timestamp(),
            }
        )

    def _changeable(self, policy: dict) -> dict:
        if policy["status"] == "cancelled":
            raise Conflict(
                f"policy {policy['policy_id']} is cancelled; it changes no more"
            )
        return policy

    def _put(self, policy: dict) -> dict:
        policy["updated_at"] = utc_timestamp()
        self.store.put("policies", policy["policy_id"], policy)
        return policy


def _underwrite(product: str, coverage_cents: int, premium_cents: int) -> None:
    """Refuse coverage outside the product's limits or a premium too low for it."""
    low, high = PRODUCTS[product]
    if not low <= coverage_cents <= high:
        raise Rejected(
            "coverage_cents",
            coverage_cents,
            f"{product} covers from {low} to {high} cents",
        )
    lowest_premium = round(coverage_cents * _MIN_PREMIUM_RATE)
    if premium_cents < lowest_premium or premium_cents >= coverage_cents:
        raise Rejected(
            "premium_cents",
            premium_cents,
            f"from {lowest_premium} cents (0.1% of the coverage) to less than "
            f"the coverage",
        )


async def _verified_method(
    calls: DependencyCalls, customer_id: str, method: PaymentMethod
) -> object:
    answer = await calls.call(
        "payment-api",
        "POST",
        "/payment-methods/verify",
        {"customer_id": customer_id, **method.model_dump()},
    )
    if answer.field("verified") is not True:
        raise Rejected(
            "payment_method.token",
            method.token,
            "the payment gateway refused this payment method",
        )
    return answer.body.get("method_token")


def routes(context: ServiceContext) -> APIRouter:
    api = PolicyAPI(context)
    router = APIRouter()
    add_route(router, "POST", "/policies", api.create, 201, (422, 503))
    add_route(router, "GET", "/policies/{policy_id}", api.get, 200, (404,))
    add_route(router, "GET", "/policies/{policy_id}/status", api.status, 200, (404,))
    add_route(
        router,
        "PATCH",
        "/policies/{policy_id}",
        api.update,
        200,
        (404, 409, 422, 503),
    )
    add_route(
        router,
        "PUT",
        "/policies/{policy_id}/coverage",
        api.change_coverage,
        200,
        (404, 409, 422),
    )
    add_route(
        router, "POST", "/policies/{policy_id}/renewal", api.renew, 200, (404, 409)
    )
    add_route(
        router,
        "POST",
        "/policies/{policy_id}/cancellation",
        api.cancel,
        200,
        (404, 409, 422),
    )
    return router


SPEC = ServiceSpec(
    name="policy-api",
    routes=routes,
    calls=("customer-api", "payment-api"),
    cacheable=frozenset({"customer-api"}),
    seed=POLICIES,
)
