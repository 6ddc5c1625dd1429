"""Per-request bookkeeping: trace context in; metric sample and log line out."""

import logging
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mocks.core.context import ServiceContext
from mocks.core.fault_kinds import EXEMPT_PREFIXES
from mocks.core.metrics import UNEXPECTED_ERROR_CODE
from mocks.core.tracing import TraceContext

log = logging.getLogger(__name__)


class RequestObserver:
    """ASGI middleware that every HTTP request of a service passes through.

    It sits inside Starlette's error middleware, so a request that raises is
    seen here with no response started and is recorded as a 500. Only declared
    service routes are counted in the metrics; a request for an unknown path or
    method (the router's 404 or 405) is logged but not counted. Every request
    outside /admin, /metrics and /healthz counts in http_requests_in_flight
    while it is served, including the time it waits behind a concurrency cap,
    since the route it will take is not known before routing.
    """

    def __init__(self, app: ASGIApp, context: ServiceContext):
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _ObservedRequest(scope)
        scope.setdefault("state", {})["trace"] = request.trace

        async def send_observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                request.status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    request.trace_header(),
                ]
            if message["type"] == "http.response.body" and not message.get("more_body"):
                # Recorded before the last byte leaves, so a caller that has its
                # answer always finds the request already counted and logged.
                self._record(request)
            await send(message)

        in_flight = not scope["path"].startswith(EXEMPT_PREFIXES)
        if in_flight:
            self.context.metrics.request_started()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            if in_flight:
                self.context.metrics.request_finished()
            if not request.recorded:
                self._record(request)

    def _record(self, request: "_ObservedRequest") -> None:
        request.recorded = True
        duration_s = time.perf_counter() - request.started
        scope, method, status = request.scope, request.scope["method"], request.status
        template = getattr(scope.get("route"), "path", None)
        metrics = self.context.metrics
        if template is not None and metrics.counts(template, method):
            metrics.observe_request(template, method, status, duration_s)
        self.context.request_log.write(
            {
                "service": self.context.service,
                "method": method,
                "route": template or scope["path"],
                "status": status,
                "duration_ms": round(duration_s * 1000, 3),
                "trace_id": request.trace.trace_id,
                "span_id": request.trace.span_id,
                "parent_span_id": request.trace.parent_id,
                "caller": request.caller(),
            }
        )
        log.debug("%s %s -> %s", method, scope["path"], status)


class _ObservedRequest:
    """What the observer notes about one request while it is being served."""

    def __init__(self, scope: Scope):
        self.scope = scope
        self.started = time.perf_counter()
        self.headers = Headers(scope=scope)
        self.trace = TraceContext.from_traceparent(self.headers.get("traceparent"))
        # Stays 500 if the app raises before it starts a response.
        self.status = UNEXPECTED_ERROR_CODE
        self.recorded = False

    def trace_header(self) -> tuple[bytes, bytes]:
        return (b"x-trace-id", self.trace.trace_id.encode())

    def caller(self) -> str | None:
        return self.headers.get("x-caller") or self.headers.get("user-agent")
