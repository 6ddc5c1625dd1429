"""customer-api: profiles, sign-in tokens, and consent and privacy flags.

A new profile is checked by identity verification and filed with the CRM; a
changed name or e-mail is filed with the CRM again. A customer signs in with
their customer id and date of birth and gets a bearer token that other
services can verify (POST /auth/verify). Only a digest of each token is
stored, so the database holds no usable credential.

Known shortcoming: the date of birth is a stand-in for a real credential, and
there is no sign-out, so a token lives until it expires.
"""

import hashlib
import secrets
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mocks.core.context import ServiceContext, ServiceSpec, add_route
from mocks.core.dependencies import DependencyCalls
from mocks.core.records import CUSTOMER_ID, EMAIL, found, numbered_id, utc_timestamp
from mocks.core.seed import CUSTOMERS
from mocks.errors import Rejected, Unauthorized

TOKEN_LIFETIME_S = 3600
_TOKEN_PREFIX = "ctk_"


class NewCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL, max_length=254)
    date_of_birth: date


class ProfileChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=EMAIL, max_length=254)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()-]{6,20}$")
    postal_address: str | None = Field(default=None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _something_changes(self) -> "ProfileChange":
        if not self.model_dump(exclude_none=True):
            raise ValueError("give at least one of: name, email, phone, postal_address")
        return self


class Consent(BaseModel):
    """What the customer allows; every flag must be given, as a JSON boolean."""

    model_config = ConfigDict(extra="forbid", strict=True)

    marketing_email: bool
    marketing_sms: bool
    share_with_partners: bool
    profiling: bool


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(pattern=CUSTOMER_ID)
    date_of_birth: date


class TokenToVerify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)


class CustomerAPI:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.store = context.store

    async def create(self, customer: NewCustomer, request: Request) -> dict:
        calls = self.context.calls(request)
        reference = await _verify_identity(calls, customer)
        customer_id = numbered_id("CUST", self.store.next_number("customers"))
        contact_id = await _file_contact(
            calls, customer_id, customer.name, customer.email
        )
        record = {
            "customer_id": customer_id,
            **customer.model_dump(mode="json"),
            "identity_status": "verified",
            "identity_reference": reference,
            "crm_contact_id": contact_id,
            "consent": _no_consent(),
            "created_at": utc_timestamp(),
        }
        self.store.put("customers", customer_id, record)
        return record

    async def get(self, customer_id: str) -> dict:
        return found(self.store.get("customers", customer_id), "customer", customer_id)

    async def update(
        self, customer_id: str, change: ProfileChange, request: Request
    ) -> dict:
        customer = await self.get(customer_id)
        changed = {**customer, **change.model_dump(exclude_none=True)}
        if (changed["name"], changed["email"]) != (customer["name"], customer["email"]):
            calls = self.context.calls(request)
            changed["crm_contact_id"] = await _file_contact(
                calls, customer_id, changed["name"], changed["email"]
            )
        changed["updated_at"] = utc_timestamp()
        self.store.put("customers", customer_id, changed)
        return changed

    async def get_consent(self, customer_id: str) -> dict:
        customer = await self.get(customer_id)
        return {"customer_id": customer_id, **customer["consent"]}

    async def set_consent(self, customer_id: str, consent: Consent) -> dict:
        customer = await self.get(customer_id)
        flags = {**consent.model_dump(), "updated_at": utc_timestamp()}
        self.store.put("customers", customer_id, {**customer, "consent": flags})
        return {"customer_id": customer_id, **flags}

    async def sign_in(self, credentials: SignIn) -> dict:
        customer = self.store.get("customers", credentials.customer_id)
        if customer is None or customer["date_of_birth"] != str(
            credentials.date_of_birth
        ):
            # One answer for both: a caller cannot probe which ids exist.
            raise Unauthorized("customer_id and date_of_birth do not match")
        token = _TOKEN_PREFIX + secrets.token_urlsafe(24)
        expires = datetime.now(UTC) + timedelta(seconds=TOKEN_LIFETIME_S)
        grant = {
            "customer_id": credentials.customer_id,
            "expires_at": expires.isoformat(timespec="seconds"),
        }
        self.store.put("tokens", _token_digest(token), grant)
        return {"token": token, "token_type": "bearer", **grant}

    async def verify_token(self, given: TokenToVerify) -> dict:
        grant = self.store.get("tokens", _token_digest(given.token))
        if grant is None:
            return {"valid": False, "reason": "unknown token"}
        if datetime.fromisoformat(grant["expires_at"]) <= datetime.now(UTC):
            return {"valid": False, "reason": "expired", **grant}
        return {"valid": True, **grant}


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _no_consent() -> dict:
    return {
        "marketing_email": False,
        "marketing_sms": False,
        "share_with_partners": False,
        "profiling": False,
        "updated_at": None,
    }


async def _verify_identity(calls: DependencyCalls, customer: NewCustomer) -> str:
    """The provider's reference; Rejected if it refuses the person."""
    identity = await calls.call(
        "identity-verification", "POST", "/verify", customer.model_dump(mode="json")
    )
    reference = identity.body.get("reference")
    if identity.field("verified") is not True:
        raise Rejected(
            "email",
            customer.email,
            f"identity verification refused this person (reference {reference})",
        )
    return reference


async def _file_contact(
    calls: DependencyCalls, customer_id: str, name: str, email: str
) -> object:
    contact = await calls.call(
        "crm",
        "POST",
        "/contacts",
        {"customer_id": customer_id, "name": name, "email": email},
        expect=(201,),
    )
    return contact.field("contact_id")


def routes(context: ServiceContext) -> APIRouter:
    api = CustomerAPI(context)
    router = APIRouter()
    add_route(router, "POST", "/customers", api.create, 201, (422, 503))
    add_route(router, "GET", "/customers/{customer_id}", api.get, 200, (404,))
    add_route(
        router, "PATCH", "/customers/{customer_id}", api.update, 200, (404, 422, 503)
    )
    add_route(
        router, "GET", "/customers/{customer_id}/consent", api.get_consent, 200, (404,)
    )
    add_route(
        router,
        "PUT",
        "/customers/{customer_id}/consent",
        api.set_consent,
        200,
        (404, 422),
    )
    add_route(router, "POST", "/auth/tokens", api.sign_in, 201, (401, 422))
    add_route(router, "POST", "/auth/verify", api.verify_token, 200, (422,))
    return router


SPEC = ServiceSpec(
    name="customer-api",
    routes=routes,
    calls=("identity-verification", "crm"),
    seed=CUSTOMERS,
)
