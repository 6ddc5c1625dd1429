"""The app core in-process: an unexpected error is still counted and logged."""

import asyncio
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI
from mock_processes import service_config

from mocks.config import parse_config
from mocks.core.app import create_app
from mocks.core.context import ServiceSpec, add_route


def _broken_routes(context) -> APIRouter:
    async def explode() -> dict:
        raise RuntimeError("a bug in the handler")

    router = APIRouter()
    add_route(router, "GET", "/explode", explode, 200, ())
    return router


async def _explode_then_scrape(app: FastAPI) -> tuple[httpx.Response, str]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://crm") as client,
    ):
        answer = await client.get("/explode")
        metrics = await client.get("/metrics")
    return answer, metrics.text


def test_an_unexpected_error_is_a_counted_and_logged_500(tmp_path: Path):
    config = parse_config(service_config("crm", tmp_path, {}))
    app = create_app(config, ServiceSpec(name="crm", routes=_broken_routes))

    answer, metrics = asyncio.run(_explode_then_scrape(app))

    counted = 'http_requests_total{code="500",method="GET",route="/explode",'
    assert answer.status_code == 500
    assert f'{counted}service="crm"}} 1.0' in metrics
    log_line = (tmp_path / "logs" / "crm.log").read_text().splitlines()[0]
    assert '"route":"/explode","status":500' in log_line
