"""Runbook actions change the estate through the admin API, and undo cleanly."""

import json

import httpx
import pytest

from harness.config import RunbookAction
from harness.remediate.actions import ActionError, ActionExecutor

FALLBACK = RunbookAction(
    "set_fallback",
    {"service": "claims-api", "dependency": "customer-api", "mode": "cache"},
)


class AdminAPI:
    """An in-memory admin API, standing in for a mock's /admin routes."""

    def __init__(self, obey: bool = True):
        self.state = {"customer-api": {"fallback": "none"}}
        self.obey = obey
        self.requests = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.headers["Authorization"] == "Bearer token"
        if request.method == "PUT":
            mode = json.loads(request.content)["fallback"]
            if self.obey:
                self.state["customer-api"]["fallback"] = mode
            return httpx.Response(200, json=self.state["customer-api"])
        return httpx.Response(200, json=self.state)


def executor(api: AdminAPI) -> ActionExecutor:
    return ActionExecutor(
        {"claims-api": "http://claims"}, "token", transport=httpx.MockTransport(api)
    )


def test_set_fallback_then_undo_restores_the_previous_mode():
    api = AdminAPI()
    actions = executor(api)

    result = actions.run(FALLBACK)
    assert api.state["customer-api"]["fallback"] == "cache"
    assert result.detail == {"fallback": "cache", "was": "none"}

    undone = actions.undo_all()
    assert api.state["customer-api"]["fallback"] == "none"
    assert len(undone) == 1
    assert actions.undo_all() == [], "undo happens once"


def test_an_action_the_service_ignores_is_an_error():
    with pytest.raises(ActionError, match="did not switch customer-api"):
        executor(AdminAPI(obey=False)).run(FALLBACK)


def test_an_unknown_service_is_named():
    action = RunbookAction(
        "set_fallback", {"service": "billing-api", "dependency": "x", "mode": "cache"}
    )

    with pytest.raises(ActionError, match="'billing-api'; known: claims-api"):
        executor(AdminAPI()).run(action)
