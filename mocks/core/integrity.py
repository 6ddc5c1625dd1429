"""Read-only admin routes that let the harness audit what a service has stored.

GET /admin/integrity/kinds counts the records of each kind; GET
/admin/integrity/records/{kind}?after=ID&limit=N pages through one kind in id
order. The harness's invariant checks read both, over HTTP only, with the
admin token.
"""

from fastapi import APIRouter, Depends, Query

from mocks.core.admin import AdminAPI
from mocks.core.context import ServiceContext

_PAGE_LIMIT_MAX = 5000


class IntegrityAPI:
    """Routes under /admin/integrity of one service."""

    def __init__(self, context: ServiceContext):
        self.store = context.store
        self._admin = AdminAPI(context)

    def router(self) -> APIRouter:
        router = APIRouter(
            prefix="/admin/integrity", dependencies=[Depends(self._admin.authorize)]
        )
        router.add_api_route("/kinds", self.kinds, methods=["GET"])
        router.add_api_route("/records/{kind}", self.records, methods=["GET"])
        return router

    async def kinds(self) -> dict:
        return {"kinds": self.store.kinds()}

    async def records(
        self,
        kind: str,
        after: str = "",
        limit: int = Query(default=1000, ge=1, le=_PAGE_LIMIT_MAX),
    ) -> dict:
        page = self.store.page(kind, after, limit)
        next_after = page[-1][0] if len(page) == limit else None
        return {
            "kind": kind,
            "records": [record for _, record in page],
            "next_after": next_after,
        }
