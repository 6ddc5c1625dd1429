"""The control API: Toxiproxy 2.12's HTTP paths, JSON shapes and status codes.

Every handler only changes in-memory state and binds or closes sockets, so
each answers at once whatever traffic the proxies carry; no handler waits for a
peer to read or write.
"""

import json
import logging

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.proxy.collection import ProxyCollection, ProxySpec
from harness.proxy.errors import ApiError, BadRequest
from harness.proxy.proxy import Proxy
from harness.proxy.toxics import ProxyToxic

log = logging.getLogger(__name__)

TOXIPROXY_VERSION = "2.12.0"


class ControlApi:
    """HTTP handlers over one server's proxies and metrics registry."""

    def __init__(self, proxies: ProxyCollection, registry: CollectorRegistry):
        self._proxies = proxies
        self._registry = registry

    def app(self) -> Starlette:
        return Starlette(
            routes=self._routes(),
            middleware=[Middleware(_Gate)],
            exception_handlers={ApiError: _api_error},
        )

    def _routes(self) -> list[Route]:
        proxy = "/proxies/{proxy}"
        toxic = "/proxies/{proxy}/toxics/{toxic}"
        return [
            Route("/reset", self.reset, methods=["POST"]),
            Route("/proxies", self.list_proxies, methods=["GET"]),
            Route("/proxies", self.create_proxy, methods=["POST"]),
            Route("/populate", self.populate, methods=["POST"]),
            Route(proxy, self.show_proxy, methods=["GET"]),
            Route(proxy, self.update_proxy, methods=["POST", "PATCH"]),
            Route(proxy, self.delete_proxy, methods=["DELETE"]),
            Route(f"{proxy}/toxics", self.list_toxics, methods=["GET"]),
            Route(f"{proxy}/toxics", self.create_toxic, methods=["POST"]),
            Route(toxic, self.show_toxic, methods=["GET"]),
            Route(toxic, self.update_toxic, methods=["POST", "PATCH"]),
            Route(toxic, self.delete_toxic, methods=["DELETE"]),
            Route("/version", self.version, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    async def reset(self, request: Request) -> Response:
        await self._proxies.reset()
        return Response(status_code=204)

    async def list_proxies(self, request: Request) -> Response:
        return JSONResponse({p.name: p.to_json() for p in self._proxies.all()})

    async def create_proxy(self, request: Request) -> Response:
        spec = ProxySpec.from_json(await _json_body(request))
        proxy = await self._proxies.create(spec)
        return JSONResponse(proxy.to_json(), status_code=201)

    async def populate(self, request: Request) -> Response:
        specs = ProxySpec.list_from_json(await _json_body(request))
        proxies = await self._proxies.populate(specs)
        body = {"proxies": [proxy.to_json() for proxy in proxies]}
        return JSONResponse(body, status_code=201)

    async def show_proxy(self, request: Request) -> Response:
        return JSONResponse(self._proxy(request).to_json())

    async def update_proxy(self, request: Request) -> Response:
        name = request.path_params["proxy"]
        self._proxies.get(name)  # an unknown proxy is reported before a bad body
        proxy = await self._proxies.update(name, await _json_body(request))
        return JSONResponse(proxy.to_json())

    async def delete_proxy(self, request: Request) -> Response:
        await self._proxies.delete(request.path_params["proxy"])
        return Response(status_code=204)

    async def list_toxics(self, request: Request) -> Response:
        toxics = self._proxy(request).toxics()
        return JSONResponse([toxic.to_json() for toxic in toxics])

    async def create_toxic(self, request: Request) -> Response:
        proxy = self._proxy(request)
        toxic = ProxyToxic.from_json(await _json_body(request))
        return JSONResponse(proxy.add_toxic(toxic).to_json())

    async def show_toxic(self, request: Request) -> Response:
        toxic = self._proxy(request).get_toxic(request.path_params["toxic"])
        return JSONResponse(toxic.to_json())

    async def update_toxic(self, request: Request) -> Response:
        name = request.path_params["toxic"]
        proxy = self._proxy(request)
        proxy.get_toxic(name)  # an unknown toxic is reported before a bad body
        toxic = proxy.update_toxic(name, await _json_body(request))
        return JSONResponse(toxic.to_json())

    async def delete_toxic(self, request: Request) -> Response:
        self._proxy(request).remove_toxic(request.path_params["toxic"])
        return Response(status_code=204)

    async def version(self, request: Request) -> Response:
        # Toxiproxy 2.12 answers with this exact text, newline included.
        body = json.dumps({"version": TOXIPROXY_VERSION}, separators=(",", ": "))
        return Response(
            f"{body}\n", headers={"content-type": "application/json;charset=utf-8"}
        )

    async def metrics(self, request: Request) -> Response:
        return Response(generate_latest(self._registry), media_type=CONTENT_TYPE_LATEST)

    def _proxy(self, request: Request) -> Proxy:
        return self._proxies.get(request.path_params["proxy"])


async def _json_body(request: Request) -> object:
    raw = await request.body()
    if not raw.strip():
        raise BadRequest.body("EOF")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequest.body(str(exc)) from exc


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    log.debug("%s %s refused: %s", request.method, request.url.path, exc.message)
    return JSONResponse(exc.to_json(), status_code=exc.status)


class _Gate:
    """Refuses browsers, as Toxiproxy does, and logs each request at DEBUG.

    A web page could otherwise make a visitor's browser post to the API on
    127.0.0.1 and cut that machine's connections.
    """

    def __init__(self, app: ASGIApp):
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        if _user_agent(scope).startswith("Mozilla/"):
            refusal = PlainTextResponse("User agent not allowed\n", status_code=403)
            await refusal(scope, receive, send)
            return

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                log.debug(
                    "%s %s -> %s", scope["method"], scope["path"], message["status"]
                )
            await send(message)

        await self._app(scope, receive, send_logged)


def _user_agent(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"user-agent":
            return value.decode("latin-1")
    return ""
