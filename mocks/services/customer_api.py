"""customer-api: customer profiles, checked by identity verification and the CRM."""

from datetime import date

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from mocks.core.context import ServiceContext, ServiceSpec, add_route
from mocks.core.dependencies import DependencyCalls
from mocks.core.records import EMAIL, found, numbered_id, utc_timestamp
from mocks.core.seed import CUSTOMERS
from mocks.errors import Rejected


class NewCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL, max_length=254)
    date_of_birth: date


class CustomerAPI:
    def __init__(self, context: ServiceContext):
        self.context = context
        self.store = context.store

    async def create(self, customer: NewCustomer, request: Request) -> dict:
        calls = self.context.calls(request)
        reference = await _verify_identity(calls, customer)
        customer_id = numbered_id("CUST", self.store.next_number("customers"))
        contact = await calls.call(
            "crm",
            "POST",
            "/contacts",
            {
                "customer_id": customer_id,
                "name": customer.name,
                "email": customer.email,
            },
            expect=(201,),
        )
        record = {
            "customer_id": customer_id,
            **customer.model_dump(mode="json"),
            "identity_status": "verified",
            "identity_reference": reference,
            "crm_contact_id": contact.field("contact_id"),
            "created_at": utc_timestamp(),
        }
        self.store.put("customers", customer_id, record)
        return record

    async def get(self, customer_id: str) -> dict:
        return found(self.store.get("customers", customer_id), "customer", customer_id)


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


def routes(context: ServiceContext) -> APIRouter:
    api = CustomerAPI(context)
    router = APIRouter()
    add_route(router, "POST", "/customers", api.create, 201, (422, 503))
    add_route(router, "GET", "/customers/{customer_id}", api.get, 200, (404,))
    return router


SPEC = ServiceSpec(
    name="customer-api",
    routes=routes,
    calls=("identity-verification", "crm"),
    seed=CUSTOMERS,
)
