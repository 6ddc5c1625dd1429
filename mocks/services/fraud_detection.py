"""fraud-detection: a stub that scores a claim deterministically from its fields.

The score is a hash of the claim spread over 0..0.6, plus 0.35 for a claim
above 20,000.00; a score of 0.7 or more asks for review. Small claims are
therefore always accepted, and a given claim always gets the same score.
"""

from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from mocks.core.context import ServiceContext, ServiceSpec, add_route
from mocks.core.records import CUSTOMER_ID, POLICY_ID, PositiveCents, digest

_LARGE_CLAIM_CENTS = 2_000_000
_LARGE_CLAIM_RISK = 0.35
_HASH_RISK_SPAN = 0.6
_REVIEW_FROM = 0.7
_MODEL_VERSION = "stub-1"


class ClaimToScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy_id: str = Field(pattern=POLICY_ID)
    customer_id: str = Field(pattern=CUSTOMER_ID)
    amount_cents: PositiveCents
    description: str = Field(min_length=1, max_length=2000)
    incident_date: date


async def score(claim: ClaimToScore) -> dict:
    fields = claim.model_dump(mode="json")
    spread = int(digest(*fields.values(), length=6), 16) / 0xFFFFFF
    risk = spread * _HASH_RISK_SPAN
    if claim.amount_cents > _LARGE_CLAIM_CENTS:
        risk += _LARGE_CLAIM_RISK
    return {
        "score": round(risk, 3),
        "decision": "review" if risk >= _REVIEW_FROM else "accept",
        "model_version": _MODEL_VERSION,
    }


def routes(context: ServiceContext) -> APIRouter:
    router = APIRouter()
    add_route(router, "POST", "/score", score, 200, (422,))
    return router


SPEC = ServiceSpec(name="fraud-detection", routes=routes)
