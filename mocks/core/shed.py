"""Load shedding: a service refuses a share of its non-critical requests.

An operator (a runbook) sets the share through PUT /admin/shed; requests that
carry `X-Priority: critical` are always served. Refusals are spread evenly
(one in four at 0.25) rather than drawn at random, so a short burst sheds what
the ratio says.
"""

import logging
import math

from fastapi import APIRouter, Depends, Request

from mocks.core.validation import read_json
from mocks.errors import Rejected, Shed

log = logging.getLogger(__name__)

PRIORITY_HEADER = "x-priority"
CRITICAL = "critical"
RETRY_AFTER_S = 1


class LoadShedder:
    """The shed ratio of one service and the admin routes that change it."""

    def __init__(self) -> None:
        self.ratio = 0.0
        self._owed = 0.0  # refusals owed by the ratio and not yet made

    def router(self, authorize) -> APIRouter:
        router = APIRouter(prefix="/admin", dependencies=[Depends(authorize)])
        router.add_api_route("/shed", self.describe, methods=["GET"])
        router.add_api_route("/shed", self.set_ratio, methods=["PUT"])
        return router

    async def describe(self) -> dict:
        return {"ratio": self.ratio, "retry_after_s": RETRY_AFTER_S}

    async def set_ratio(self, request: Request) -> dict:
        body = read_json(await request.body())
        ratio = body.get("ratio") if isinstance(body, dict) else None
        if (
            isinstance(ratio, bool)
            or not isinstance(ratio, int | float)
            or not math.isfinite(ratio)
            or not 0 <= ratio <= 1
        ):
            raise Rejected("ratio", ratio, "a number from 0 (shed nothing) to 1")
        self.ratio = float(ratio)
        self._owed = 0.0
        log.info("shedding %s of non-critical requests", self.ratio)
        return await self.describe()

    async def admit(self, request: Request) -> None:
        """Refuse this request with 503 and Retry-After if its share is due."""
        if self.ratio <= 0 or request.headers.get(PRIORITY_HEADER) == CRITICAL:
            return
        self._owed += self.ratio
        if self._owed >= 1:
            self._owed -= 1
            raise Shed(self.ratio, RETRY_AFTER_S)
