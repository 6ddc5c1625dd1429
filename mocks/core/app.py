"""The app factory: one FastAPI app per service, built from its spec and config."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from mocks.config import ServiceConfig
from mocks.core.admin import AdminAPI
from mocks.core.admin_faults import FaultAdminAPI
from mocks.core.context import ServiceContext, ServiceSpec
from mocks.core.faults import FaultGate, FaultRegistry
from mocks.core.integrity import IntegrityAPI
from mocks.core.metrics import EXPOSITION_CONTENT_TYPE
from mocks.core.middleware import RequestObserver
from mocks.core.shed import LoadShedder
from mocks.core.validation import answer_invalid_request
from mocks.errors import RequestRefused

log = logging.getLogger(__name__)


def create_app(config: ServiceConfig, spec: ServiceSpec) -> FastAPI:
    """Build one service's app; its database, log and client open when it starts."""
    context = ServiceContext.build(config, spec)
    faults = FaultRegistry(context)
    app = FastAPI(
        title=spec.name, version=config.version, lifespan=_lifespan(context, faults)
    )
    app.include_router(_core_routes(context))
    admin = AdminAPI(context)
    app.include_router(admin.router())
    app.include_router(FaultAdminAPI(faults).router(admin.authorize))
    app.include_router(IntegrityAPI(context).router())
    shedder = LoadShedder()
    app.include_router(shedder.router(admin.authorize))
    service_routes = spec.routes(context)
    app.include_router(
        service_routes,
        dependencies=[Depends(shedder.admit), Depends(faults.intercept)],
    )
    _declare_metrics(context, service_routes)
    app.add_exception_handler(RequestRefused, _answer_refusal)
    app.add_exception_handler(RequestValidationError, answer_invalid_request)
    # Added first, so it runs inside the observer, which times waits it causes.
    app.add_middleware(FaultGate, faults=faults)
    app.add_middleware(RequestObserver, context=context)
    return app


def _lifespan(context: ServiceContext, faults: FaultRegistry):
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await context.start()
        faults.start()
        try:
            yield
        finally:
            faults.close()
            await context.close()

    return lifespan


def _core_routes(context: ServiceContext) -> APIRouter:
    router = APIRouter()

    async def healthz() -> dict:
        return {
            "status": "ok",
            "service": context.service,
            "version": context.metrics.version,
        }

    async def metrics() -> Response:
        return Response(
            context.metrics.exposition(), media_type=EXPOSITION_CONTENT_TYPE
        )

    router.add_api_route("/healthz", healthz, methods=["GET"])
    router.add_api_route("/metrics", metrics, methods=["GET"])
    return router


def _declare_metrics(context: ServiceContext, service_routes: APIRouter) -> None:
    for route in service_routes.routes:
        if not isinstance(route, APIRoute):
            continue
        codes = {route.status_code, *route.responses}
        for method in route.methods:
            context.metrics.declare_route(route.path, method, codes)
    for dependency in context.config.dependencies:
        context.metrics.declare_dependency(dependency)


async def _answer_refusal(request: Request, exc: RequestRefused) -> JSONResponse:
    log.debug("refused %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)
