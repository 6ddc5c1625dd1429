"""The control API: Toxiproxy 2.12's HTTP paths, JSON shapes and status codes.

Every handler only changes in-memory state and binds or closes sockets, so
each answers at once whatever traffic the proxies carry; no handler waits for a
peer to read or write.
"""

import json
import logging
import secrets
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
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
REQUEST_ID_HEADER = "X-Toxiproxy-Request-Id"

Handler = Callable[[Request], Awaitable[Response]]


class ControlApi:
    """HTTP handlers over one server's proxies and metrics registry."""

    def __init__(self, proxies: ProxyCollection, registry: CollectorRegistry):
        self._proxies = proxies
        self._registry = registry

    def app(self) -> Starlette:
        app = Starlette(
            routes=self._routes(),
            middleware=[Middleware(_RequestLog)],
            exception_handlers={
                ApiError: _api_error,
                404: _no_route,
                405: _no_route,
            },
        )
        # Toxiproxy's router answers 404 for "/proxies/", it does not redirect.
        app.router.redirect_slashes = False
        return app

    def _routes(self) -> list[Route]:
        proxy = "/proxies/{proxy}"
        toxic = "/proxies/{proxy}/toxics/{toxic}"
        return [
            _route("/reset", self.reset, "POST"),
            _route("/proxies", self.list_proxies, "GET"),
            _route("/proxies", self.create_proxy, "POST"),
            _route("/populate", self.populate, "POST"),
            _route(proxy, self.show_proxy, "GET"),
            _route(proxy, self.update_proxy, "POST", "PATCH"),
            _route(proxy, self.delete_proxy, "DELETE"),
            _route(f"{proxy}/toxics", self.list_toxics, "GET"),
            _route(f"{proxy}/toxics", self.create_toxic, "POST"),
            _route(toxic, self.show_toxic, "GET"),
            _route(toxic, self.update_toxic, "POST", "PATCH"),
            _route(toxic, self.delete_toxic, "DELETE"),
            _route("/version", self.version, "GET"),
            _route("/metrics", self.metrics, "GET"),
        ]

    async def reset(self, request: Request) -> Response:
        await self._proxies.reset()
        return Response(status_code=204)

    async def list_proxies(self, request: Request) -> Response:
        return JSONResponse({p.name: p.to_json() for p in self._proxies.all()})

    async def create_proxy(self, request: Request) -> Response:
        spec = ProxySpec.from_json(await _json_object(request))
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
        proxy = await self._proxies.update(name, await _json_object(request))
        return JSONResponse(proxy.to_json())

    async def delete_proxy(self, request: Request) -> Response:
        await self._proxies.delete(request.path_params["proxy"])
        return Response(status_code=204)

    async def list_toxics(self, request: Request) -> Response:
        toxics = self._proxy(request).toxics()
        return JSONResponse([toxic.to_json() for toxic in toxics])

    async def create_toxic(self, request: Request) -> Response:
        proxy = self._proxy(request)
        toxic = ProxyToxic.from_json(await _json_object(request))
        return JSONResponse(proxy.add_toxic(toxic).to_json())

    async def show_toxic(self, request: Request) -> Response:
        toxic = self._proxy(request).get_toxic(request.path_params["toxic"])
        return JSONResponse(toxic.to_json())

    async def update_toxic(self, request: Request) -> Response:
        name = request.path_params["toxic"]
        proxy = self._proxy(request)
        proxy.get_toxic(name)  # an unknown toxic is reported before a bad body
        toxic = proxy.update_toxic(name, await _json_object(request))
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
    # Bodies are read as strict JSON, where Toxiproxy's Go decoder ignores text
    # after the first value and matches field names in any letter case.
    raw = await request.body()
    if not raw.strip():
        raise BadRequest.body("EOF")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequest.body(str(exc)) from exc


async def _json_object(request: Request) -> object:
    """Read a body meant to be one JSON object, as Toxiproxy's Go decoder would.

    Go leaves a field at its default when the JSON gives null, and decodes a
    null body into an unchanged object; clients that send null for "not set"
    rely on that.
    """
    body = await _json_body(request)
    return {} if body is None else _without_nulls(body)


def _without_nulls(value: object) -> object:
    if not isinstance(value, dict):
        return value
    return {
        key: _without_nulls(item) for key, item in value.items() if item is not None
    }


def _route(path: str, handler: Handler, *methods: str) -> Route:
    """A route whose requests get what Toxiproxy gives every routed request.

    Each answer carries a request id, and browsers are refused: a web page could
    otherwise make a visitor's browser post to the API on 127.0.0.1 and cut that
    machine's connections.
    """

    async def handle(request: Request) -> Response:
        request.state.request_id = secrets.token_hex(10)
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            response: Response = PlainTextResponse(
                "User agent not allowed\n", status_code=403
            )
        else:
            response = await handler(request)
        response.headers[REQUEST_ID_HEADER] = request.state.request_id
        return response

    route = Route(path, handle, methods=list(methods))
    # Starlette answers HEAD wherever GET is allowed; Toxiproxy's router does not.
    route.methods.discard("HEAD")
    return route


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    log.debug("%s %s refused: %s", request.method, request.url.path, exc.message)
    # Toxiproxy writes its JSON error through Go's http.Error, which labels it
    # text/plain and ends it with a newline; clients written for it expect that.
    body = json.dumps(exc.to_json(), ensure_ascii=False, separators=(",", ":"))
    response = PlainTextResponse(f"{body}\n", status_code=exc.status)
    response.headers["X-Content-Type-Options"] = "nosniff"
    request_id = getattr(request.state, "request_id", None)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


async def _no_route(request: Request, exc: Exception) -> Response:
    """Answer a path or method no route takes, as Toxiproxy's router does."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return Response(status_code=405)
    response = PlainTextResponse("404 page not found\n", status_code=404)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


class _RequestLog:
    """Logs each request and its answer at DEBUG."""

    def __init__(self, app: ASGIApp):
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                log.debug(
                    "%s %s -> %s", scope["method"], scope["path"], message["status"]
                )
            await send(message)

        await self._app(scope, receive, send_logged)
