"""The admin API: dependency fallbacks and resilience policies, for callers on
127.0.0.1 with the token.

Every admin route checks the caller before it reads the body, so a request
without the token changes nothing and learns nothing about the payload rules.
"""

import hmac
import ipaddress
import logging

from fastapi import APIRouter, Depends, Request

from mocks.core.context import ServiceContext
from mocks.core.validation import read_json
from mocks.errors import Forbidden, Rejected, Unauthorized

log = logging.getLogger(__name__)


class AdminAPI:
    """Routes under /admin of one service."""

    def __init__(self, context: ServiceContext):
        self.context = context
        self._expected = f"Bearer {context.config.admin_token}".encode()

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/admin", dependencies=[Depends(self.authorize)])
        router.add_api_route("/dependencies", self.list_dependencies, methods=["GET"])
        router.add_api_route(
            "/dependencies/{name}", self.set_dependency, methods=["PUT"]
        )
        return router

    async def authorize(self, request: Request) -> None:
        host = request.client.host if request.client else None
        if not _is_loopback(host):
            raise Forbidden(f"the admin API answers only 127.0.0.1, not {host}")
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, self._expected):
            log.warning("admin call refused: missing or wrong token from %s", host)
            raise Unauthorized("send the header 'Authorization: Bearer <admin_token>'")

    async def list_dependencies(self) -> dict:
        return self.context.dependencies.describe()

    async def set_dependency(self, name: str, request: Request) -> dict:
        self.context.dependencies.describe_one(name)
        body = await _json_object(request)
        return self.context.dependencies.update(name, body)


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _json_object(request: Request) -> dict:
    body = read_json(await request.body())
    if not isinstance(body, dict):
        raise Rejected("body", body, 'a JSON object like {"fallback": "cache"}')
    return body
