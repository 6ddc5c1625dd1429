"""What a runbook can do to the estate, each with its undo.

Actions go through the mocks' admin API (fallbacks, breakers, rollbacks, load
shedding) or through the stack that started the mocks (restarts). Each checks
that it took effect, raising ActionError when it did not, and leaves an undo
that undo_all() runs at the end of the experiment, newest first.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from harness.config import RunbookAction
from harness.errors import HarnessError

log = logging.getLogger(__name__)


class ActionError(HarnessError):
    """A runbook action did not take effect."""


class Restarter(Protocol):
    """The part of the stack that restarts and scales mocks (LocalStack)."""

    def restart_mock(self, name: str, timeout_s: float = 30) -> object: ...

    def scale_out(self, name: str, timeout_s: float = 30) -> object: ...

    def scale_in(self, name: str) -> None: ...


@dataclass(frozen=True)
class ActionResult:
    action: str
    target: str
    detail: dict = field(default_factory=dict)


def action_target(action: RunbookAction) -> str:
    """What an action changes: a service, or a service's view of a dependency."""
    dependency = action.params.get("dependency")
    service = action.params.get("service", "")
    return f"{service}->{dependency}" if dependency else service


@dataclass(frozen=True)
class _Undo:
    description: str
    run: Callable[[], ActionResult]


class ActionExecutor:
    """Carries out runbook actions through the mocks' admin API and the stack."""

    def __init__(
        self,
        service_urls: dict[str, str],
        admin_token: str,
        stack: Restarter | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.service_urls = service_urls
        self.stack = stack
        self._client = httpx.Client(
            headers={"Authorization": f"Bearer {admin_token}"},
            transport=transport,
            trust_env=False,
        )
        self._undo: list[_Undo] = []

    def run(self, action: RunbookAction) -> ActionResult:
        """Carry out action within its timeout and remember how to undo it."""
        handler = getattr(self, f"_do_{action.action}", None)
        if handler is None:
            raise ActionError(f"no handler for runbook action {action.action!r}")
        return handler(action, **action.params)

    def _do_set_fallback(
        self, action: RunbookAction, service: str, dependency: str, mode: str
    ) -> ActionResult:
        before = self._dependency(action, service, dependency)["fallback"]
        self._set_fallback(action, service, dependency, mode)
        self._remember(
            f"fallback of {service}->{dependency} back to {before}",
            lambda: self._set_fallback(action, service, dependency, before),
        )
        return ActionResult(
            "set_fallback",
            f"{service}->{dependency}",
            {"fallback": mode, "was": before},
        )

    def _set_fallback(
        self, action: RunbookAction, service: str, dependency: str, mode: str
    ) -> ActionResult:
        path = f"/admin/dependencies/{dependency}"
        state = self._admin(action, "PUT", service, path, {"fallback": mode})
        if state.get("fallback") != mode:
            raise ActionError(
                f"{service} did not switch {dependency} to fallback {mode!r}: {state}"
            )
        return ActionResult("set_fallback", f"{service}->{dependency}", {"mode": mode})

    def _do_breaker(
        self, action: RunbookAction, service: str, dependency: str, state: str
    ) -> ActionResult:
        before = self._dependency(action, service, dependency)["state"]["breaker"]
        self._force_breaker(action, service, dependency, state)
        self._remember(
            f"breaker of {service}->{dependency} back to its policy",
            lambda: self._force_breaker(action, service, dependency, "auto"),
        )
        return ActionResult(
            "breaker",
            f"{service}->{dependency}",
            {"breaker": state, "was": before["state"]},
        )

    def _force_breaker(
        self, action: RunbookAction, service: str, dependency: str, setting: str
    ) -> ActionResult:
        path = f"/admin/dependencies/{dependency}"
        answer = self._admin(action, "PUT", service, path, {"breaker_state": setting})
        breaker = answer["state"]["breaker"]
        held = setting != "auto"
        if breaker["forced"] != held or (held and breaker["state"] != setting):
            raise ActionError(
                f"{service} did not set its breaker towards {dependency} to "
                f"{setting!r}: {breaker}"
            )
        return ActionResult("breaker", f"{service}->{dependency}", {"breaker": setting})

    def _do_failover(
        self, action: RunbookAction, service: str, dependency: str, to: str
    ) -> ActionResult:
        before = self._dependency(action, service, dependency)["target"]
        self._switch(action, service, dependency, to)
        self._remember(
            f"{service} back to its {before} {dependency}",
            lambda: self._switch(action, service, dependency, before),
        )
        return ActionResult(
            "failover", f"{service}->{dependency}", {"target": to, "was": before}
        )

    def _switch(
        self, action: RunbookAction, service: str, dependency: str, to: str
    ) -> ActionResult:
        path = f"/admin/dependencies/{dependency}"
        answer = self._admin(action, "PUT", service, path, {"target": to})
        if answer.get("target") != to:
            raise ActionError(
                f"{service} did not switch {dependency} to its {to}: {answer}"
            )
        return ActionResult("failover", f"{service}->{dependency}", {"target": to})

    def _do_rollback(self, action: RunbookAction, service: str) -> ActionResult:
        # Nothing to undo: putting a bad deploy back would re-inject the fault.
        before = self._admin(action, "GET", service, "/admin/faults")["version"]
        answer = self._admin(action, "POST", service, "/admin/deploy/rollback")
        return ActionResult(
            "rollback", service, {"version": answer["version"], "was": before}
        )

    def _do_shed(
        self, action: RunbookAction, service: str, ratio: float
    ) -> ActionResult:
        before = self._admin(action, "GET", service, "/admin/shed")["ratio"]
        self._set_shed(action, service, ratio)
        self._remember(
            f"shed ratio of {service} back to {before}",
            lambda: self._set_shed(action, service, before),
        )
        return ActionResult("shed", service, {"ratio": ratio, "was": before})

    def _set_shed(self, action: RunbookAction, service: str, ratio: float):
        answer = self._admin(action, "PUT", service, "/admin/shed", {"ratio": ratio})
        if answer.get("ratio") != ratio:
            raise ActionError(f"{service} did not shed {ratio}: {answer}")
        return ActionResult("shed", service, {"ratio": ratio})

    def _do_restart(self, action: RunbookAction, service: str) -> ActionResult:
        # Nothing to undo: the restarted process is the service from now on.
        stack = self._stack(f"restart {service}")
        try:
            process = stack.restart_mock(service, timeout_s=action.timeout_s)
        except HarnessError as exc:
            raise ActionError(f"restart of {service} failed: {exc}") from exc
        return ActionResult("restart", service, {"pid": getattr(process, "pid", None)})

    def _do_scale_out(self, action: RunbookAction, service: str) -> ActionResult:
        stack = self._stack(f"scale out {service}")
        try:
            process = stack.scale_out(service, timeout_s=action.timeout_s)
        except HarnessError as exc:
            raise ActionError(f"scale-out of {service} failed: {exc}") from exc

        def scale_in() -> ActionResult:
            stack.scale_in(service)
            return ActionResult("scale_in", service)

        self._remember(f"second instance of {service} stopped", scale_in)
        return ActionResult(
            "scale_out", service, {"pid": getattr(process, "pid", None)}
        )

    def _stack(self, what: str) -> Restarter:
        if self.stack is None:
            raise ActionError(
                f"cannot {what}: this estate was not started by the harness, "
                "so it holds no process to act on"
            )
        return self.stack

    def _dependency(self, action: RunbookAction, service: str, dependency: str):
        described = self._admin(action, "GET", service, "/admin/dependencies")
        if dependency not in described:
            raise ActionError(
                f"{service} does not call {dependency!r}; it calls: "
                f"{', '.join(sorted(described))}"
            )
        return described[dependency]

    def _remember(self, description: str, undo: Callable[[], ActionResult]) -> None:
        self._undo.append(_Undo(description, undo))

    def _admin(
        self,
        action: RunbookAction,
        method: str,
        service: str,
        path: str,
        body: dict | None = None,
    ) -> dict:
        if service not in self.service_urls:
            raise ActionError(
                f"runbook names service {service!r}; known: "
                f"{', '.join(sorted(self.service_urls))}"
            )
        url = self.service_urls[service] + path
        try:
            response = self._client.request(
                method, url, json=body, timeout=action.timeout_s
            )
        except httpx.HTTPError as exc:
            raise ActionError(f"{method} {url} failed: {exc}") from exc
        if not response.is_success:
            raise ActionError(
                f"{method} {url} -> HTTP {response.status_code}: {response.text[:300]}"
            )
        return response.json()

    def undo_all(self) -> list[ActionResult]:
        """Reverse every action taken, newest first; keep going past failures."""
        results = []
        pending, self._undo = self._undo, []
        for undo in reversed(pending):
            try:
                results.append(undo.run())
            except HarnessError:
                log.warning("could not undo: %s", undo.description, exc_info=True)
        return results

    def close(self) -> None:
        self._client.close()
