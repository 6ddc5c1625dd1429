"""payment-gateway: a stub card and bank gateway that charges and pays out once.

Charges and payouts are idempotent on idempotency_key and kept in SQLite, so a
count of the gateway's records is the count of money movements. Tokens that
start with "tok_refused" stand for payment methods the gateway refuses.
"""

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from mocks.core.context import ServiceContext, ServiceSpec, add_route
from mocks.core.idempotency import Created, IdempotentCreates
from mocks.core.records import (
    IdempotencyKey,
    PositiveCents,
    digest,
    found,
    numbered_id,
    utc_timestamp,
)

_REFUSED_TOKEN_PREFIX = "tok_refused"


class MethodToVerify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["card", "bank_account"]
    token: str = Field(min_length=1, max_length=64)


class Charge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: PositiveCents
    reference: str = Field(min_length=1, max_length=64)
    idempotency_key: IdempotencyKey


class Payout(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: PositiveCents
    reference: str = Field(min_length=1, max_length=64)
    payee_name: str = Field(min_length=1, max_length=200)
    idempotency_key: IdempotencyKey


class PaymentGateway:
    def __init__(self, context: ServiceContext):
        self.store = context.store
        self.charges = IdempotentCreates(context.store, "charges")
        self.payouts = IdempotentCreates(context.store, "payouts")

    async def verify(self, method: MethodToVerify) -> dict:
        return {
            "verified": not method.token.startswith(_REFUSED_TOKEN_PREFIX),
            "method_token": f"pm_{digest(method.type, method.token, length=12)}",
        }

    async def charge(self, charge: Charge) -> dict:
        return await self.charges.run(
            charge.idempotency_key, charge.model_dump(), lambda: self._capture(charge)
        )

    async def _capture(self, charge: Charge) -> Created:
        charge_id = numbered_id("CH", self.store.next_number("charges"))
        body = {
            "charge_id": charge_id,
            **charge.model_dump(),
            "status": "captured",
            "created_at": utc_timestamp(),
        }
        return Created("charges", charge_id, body)

    async def pay_out(self, payout: Payout) -> dict:
        return await self.payouts.run(
            payout.idempotency_key, payout.model_dump(), lambda: self._send(payout)
        )

    async def _send(self, payout: Payout) -> Created:
        payout_id = numbered_id("PO", self.store.next_number("payouts"))
        body = {
            "payout_id": payout_id,
            **payout.model_dump(),
            "status": "paid",
            "created_at": utc_timestamp(),
        }
        return Created("payouts", payout_id, body)

    async def get_charge(self, charge_id: str) -> dict:
        return found(self.store.get("charges", charge_id), "charge", charge_id)

    async def get_payout(self, payout_id: str) -> dict:
        return found(self.store.get("payouts", payout_id), "payout", payout_id)


def routes(context: ServiceContext) -> APIRouter:
    gateway = PaymentGateway(context)
    router = APIRouter()
    add_route(router, "POST", "/verify", gateway.verify, 200, (422,))
    add_route(router, "POST", "/charges", gateway.charge, 201, (409, 422))
    add_route(router, "POST", "/payouts", gateway.pay_out, 201, (409, 422))
    add_route(router, "GET", "/charges/{charge_id}", gateway.get_charge, 200, (404,))
    add_route(router, "GET", "/payouts/{payout_id}", gateway.get_payout, 200, (404,))
    return router


SPEC = ServiceSpec(name="payment-gateway", routes=routes)
