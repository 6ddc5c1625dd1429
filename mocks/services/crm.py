"""crm: a stub CRM platform that files a contact and names it deterministically."""

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from mocks.core.context import ServiceContext, ServiceSpec, add_route
from mocks.core.records import CUSTOMER_ID, EMAIL, digest


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(pattern=CUSTOMER_ID)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL, max_length=254)


async def file_contact(contact: Contact) -> dict:
    return {
        "contact_id": f"CRM-{digest(contact.customer_id)}",
        "customer_id": contact.customer_id,
    }


def routes(context: ServiceContext) -> APIRouter:
    router = APIRouter()
    add_route(router, "POST", "/contacts", file_contact, 201, (422,))
    return router


SPEC = ServiceSpec(name="crm", routes=routes)
