"""identity-verification: a stub KYC provider that refuses *.invalid addresses."""

from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from mocks.core.context import ServiceContext, ServiceSpec, add_route
from mocks.core.records import EMAIL, digest

# Addresses in the reserved .invalid top-level domain stand for people the
# provider cannot verify, so tests can ask for a refusal by input alone.
_REFUSED_SUFFIX = ".invalid"


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL, max_length=254)
    date_of_birth: date


async def verify(person: Person) -> dict:
    return {
        "verified": not person.email.lower().endswith(_REFUSED_SUFFIX),
        "reference": f"IDV-{digest(person.name, person.email, person.date_of_birth)}",
    }


def routes(context: ServiceContext) -> APIRouter:
    router = APIRouter()
    add_route(router, "POST", "/verify", verify, 200, (422,))
    return router


SPEC = ServiceSpec(name="identity-verification", routes=routes)
