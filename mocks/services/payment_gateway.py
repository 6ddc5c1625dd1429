"""payment-gateway: a stub card and bank gateway; every money movement happens once.

Charges, authorizations, captures, refunds and payouts are idempotent on
idempotency_key and kept in SQLite, so the gateway's records are the record of
what money moved: GET /ledger pages through them for reconciliation, and POST
/movements/search tells a caller whose call timed out whether the movement it
asked for, by idempotency key, happened (and which it was). Tokens
that start with "tok_refused" stand for payment methods the gateway refuses.
"""

from typing import Literal

from fastapi import APIRouter, Query
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
from mocks.errors import Conflict, Rejected

_REFUSED_TOKEN_PREFIX = "tok_refused"
# Kinds of gateway record that move money, and which way it goes.
MOVEMENTS = {"charges": "in", "captures": "in", "refunds": "out", "payouts": "out"}
_LEDGER_PAGE_MAX = 5000
_SEARCH_MAX = 500
_REFERENCE = Field(min_length=1, max_length=64)


class MethodToVerify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["card", "bank_account"]
    token: str = Field(min_length=1, max_length=64)


class Charge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: PositiveCents
    reference: str = _REFERENCE
    idempotency_key: IdempotencyKey


class Authorization(Charge):
    """A hold on an amount, captured later: the fields of a charge."""


class Capture(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: PositiveCents
    idempotency_key: IdempotencyKey


class Refund(BaseModel):
    model_config = ConfigDict(extra="forbid")

    charge_id: str = Field(pattern=r"^(CH|CP)-\d{6,}$")
    amount_cents: PositiveCents
    reference: str = _REFERENCE
    idempotency_key: IdempotencyKey


class Payout(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: PositiveCents
    reference: str = _REFERENCE
    payee_name: str = Field(min_length=1, max_length=200)
    idempotency_key: IdempotencyKey


class MovementKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["charges", "captures", "refunds", "payouts"]
    idempotency_key: IdempotencyKey


class MovementSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    movements: list[MovementKey] = Field(min_length=1, max_length=_SEARCH_MAX)


class PaymentGateway:
    def __init__(self, context: ServiceContext):
        self.store = context.store
        self.creates = {
            kind: IdempotentCreates(context.store, kind)
            for kind in ("charges", "authorizations", "captures", "refunds", "payouts")
        }

    async def verify(self, method: MethodToVerify) -> dict:
        return {
            "verified": not method.token.startswith(_REFUSED_TOKEN_PREFIX),
            "method_token": f"pm_{digest(method.type, method.token, length=12)}",
        }

    async def charge(self, charge: Charge) -> dict:
        return await self._once("charges", "CH", charge, {"status": "captured"})

    async def authorize(self, authorization: Authorization) -> dict:
        extra = {"status": "authorized", "captured_cents": 0}
        return await self._once("authorizations", "AU", authorization, extra)

    async def capture(self, authorization_id: str, capture: Capture) -> dict:
        request = {"authorization_id": authorization_id, **capture.model_dump()}

        async def create() -> Created:
            held = self._authorization(authorization_id)
            left = held["amount_cents"] - held["captured_cents"]
            if capture.amount_cents > left:
                raise Rejected(
                    "amount_cents",
                    capture.amount_cents,
                    f"at most the {left} cents still held by {authorization_id}",
                )
            captured = held["captured_cents"] + capture.amount_cents
            changed = {**held, "captured_cents": captured}
            body = self._record("captures", "CP", request, {"status": "captured"})
            body["reference"] = held["reference"]
            return Created(
                "captures",
                body["capture_id"],
                body,
                (("authorizations", authorization_id, changed),),
            )

        return await self.creates["captures"].run(
            capture.idempotency_key, request, create
        )

    async def refund(self, refund: Refund) -> dict:
        async def create() -> Created:
            kind = "charges" if refund.charge_id.startswith("CH") else "captures"
            charged = found(
                self.store.get(kind, refund.charge_id), "charge", refund.charge_id
            )
            refunded = charged.get("refunded_cents", 0)
            left = charged["amount_cents"] - refunded
            if refund.amount_cents > left:
                raise Rejected(
                    "amount_cents",
                    refund.amount_cents,
                    f"at most the {left} cents of {refund.charge_id} not yet refunded",
                )
            changed = {**charged, "refunded_cents": refunded + refund.amount_cents}
            body = self._record(
                "refunds", "RF", refund.model_dump(), {"status": "refunded"}
            )
            return Created(
                "refunds", body["refund_id"], body, ((kind, refund.charge_id, changed),)
            )

        return await self.creates["refunds"].run(
            refund.idempotency_key, refund.model_dump(), create
        )

    async def pay_out(self, payout: Payout) -> dict:
        return await self._once("payouts", "PO", payout, {"status": "paid"})

    async def _once(self, kind: str, prefix: str, request: BaseModel, extra: dict):
        fields = request.model_dump()

        async def create() -> Created:
            body = self._record(kind, prefix, fields, extra)
            return Created(kind, body[_id_field(kind)], body)

        return await self.creates[kind].run(request.idempotency_key, fields, create)

    def _record(self, kind: str, prefix: str, fields: dict, extra: dict) -> dict:
        record_id = numbered_id(prefix, self.store.next_number(kind))
        return {
            _id_field(kind): record_id,
            **fields,
            **extra,
            "created_at": utc_timestamp(),
        }

    def _authorization(self, authorization_id: str) -> dict:
        held = self.store.get("authorizations", authorization_id)
        held = found(held, "authorization", authorization_id)
        if held["status"] != "authorized":
            raise Conflict(f"authorization {authorization_id} is {held['status']}")
        return held

    async def get_charge(self, charge_id: str) -> dict:
        return found(self.store.get("charges", charge_id), "charge", charge_id)

    async def get_payout(self, payout_id: str) -> dict:
        return found(self.store.get("payouts", payout_id), "payout", payout_id)

    async def get_authorization(self, authorization_id: str) -> dict:
        record = self.store.get("authorizations", authorization_id)
        return found(record, "authorization", authorization_id)

    async def search(self, search: MovementSearch) -> dict:
        """Which of the movements asked for by idempotency key were made."""
        found, missing = [], []
        for wanted in search.movements:
            made = self.store.idempotent_answer(wanted.kind, wanted.idempotency_key)
            if made is None:
                missing.append(wanted.model_dump())
            else:
                found.append({**wanted.model_dump(), "movement": made.body})
        return {"found": found, "missing": missing}

    async def ledger(
        self,
        kind: Literal["charges", "captures", "refunds", "payouts"],
        after: str = "",
        limit: int = Query(default=1000, ge=1, le=_LEDGER_PAGE_MAX),
    ) -> dict:
        """One kind of money movement, a page at a time, for reconciliation."""
        page = self.store.page(kind, after, limit)
        return {
            "kind": kind,
            "direction": MOVEMENTS[kind],
            "movements": [record for _, record in page],
            "next_after": page[-1][0] if len(page) == limit else None,
        }


def _id_field(kind: str) -> str:
    return kind.removesuffix("s") + "_id"


def routes(context: ServiceContext) -> APIRouter:
    gateway = PaymentGateway(context)
    router = APIRouter()
    add_route(router, "POST", "/verify", gateway.verify, 200, (422,))
    add_route(router, "POST", "/charges", gateway.charge, 201, (409, 422))
    add_route(router, "POST", "/authorizations", gateway.authorize, 201, (409, 422))
    add_route(
        router,
        "POST",
        "/authorizations/{authorization_id}/captures",
        gateway.capture,
        201,
        (404, 409, 422),
    )
    add_route(router, "POST", "/refunds", gateway.refund, 201, (404, 409, 422))
    add_route(router, "POST", "/payouts", gateway.pay_out, 201, (409, 422))
    add_route(router, "GET", "/charges/{charge_id}", gateway.get_charge, 200, (404,))
    add_route(router, "GET", "/payouts/{payout_id}", gateway.get_payout, 200, (404,))
    add_route(
        router,
        "GET",
        "/authorizations/{authorization_id}",
        gateway.get_authorization,
        200,
        (404,),
    )
    add_route(router, "GET", "/ledger/{kind}", gateway.ledger, 200, (422,))
    add_route(router, "POST", "/movements/search", gateway.search, 200, (422,))
    return router


SPEC = ServiceSpec(name="payment-gateway", routes=routes)
