"""The admin API for injected faults: add, list, read, remove, roll back.

It shares the admin API's check of the caller (loopback and token), which runs
before the body is read: a refused caller changes nothing.
"""

import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from mocks.core.fault_kinds import FaultKind, parse_fault
from mocks.core.faults import FaultRegistry
from mocks.core.validation import read_json

log = logging.getLogger(__name__)


class FaultAdminAPI:
    """Routes under /admin/faults and /admin/deploy of one service."""

    def __init__(self, faults: FaultRegistry):
        self.faults = faults

    def router(self, authorize: Callable[[Request], Awaitable[None]]) -> APIRouter:
        router = APIRouter(prefix="/admin", dependencies=[Depends(authorize)])
        router.add_api_route("/faults", self.list_faults, methods=["GET"])
        router.add_api_route("/faults", self.add_fault, methods=["POST"])
        router.add_api_route("/faults", self.clear_faults, methods=["DELETE"])
        router.add_api_route("/faults/{fault_id}", self.get_fault, methods=["GET"])
        router.add_api_route(
            "/faults/{fault_id}", self.remove_fault, methods=["DELETE"]
        )
        router.add_api_route("/deploy/rollback", self.rollback, methods=["POST"])
        return router

    async def list_faults(self) -> dict:
        return {
            "version": self.faults.metrics.version,
            "faults": [active.describe() for active in self.faults.all()],
        }

    async def add_fault(self, request: Request) -> JSONResponse:
        body = read_json(await request.body())
        dependencies = tuple(self.faults.context.config.dependencies)
        active = self.faults.add(parse_fault(body, dependencies))
        if active.kind is FaultKind.CRASH:
            # The exit is scheduled only once the answer has been sent.
            crash = BackgroundTask(self.faults.crash, active)
            return JSONResponse(active.describe(), status_code=202, background=crash)
        return JSONResponse(active.describe(), status_code=201)

    async def get_fault(self, fault_id: str) -> dict:
        return self.faults.get(fault_id).describe()

    async def remove_fault(self, fault_id: str) -> dict:
        return self.faults.remove(fault_id).describe()

    async def clear_faults(self) -> dict:
        return {"removed": [active.describe() for active in self.faults.clear()]}

    async def rollback(self) -> dict:
        removed = self.faults.rollback()
        return {"version": self.faults.metrics.version, "removed": removed.describe()}
