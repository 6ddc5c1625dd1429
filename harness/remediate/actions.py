"""What a runbook can do to the estate, each with its undo."""

import logging
from dataclasses import dataclass

import httpx

from harness.config import RunbookAction
from harness.errors import HarnessError

log = logging.getLogger(__name__)


class ActionError(HarnessError):
    """A runbook action did not take effect."""


@dataclass(frozen=True)
class ActionResult:
    action: str
    target: str
    detail: dict


class ActionExecutor:
    """Carries out runbook actions through the mocks' admin API."""

    def __init__(
        self,
        service_urls: dict[str, str],
        admin_token: str,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.service_urls = service_urls
        self._client = httpx.Client(
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {admin_token}"},
            transport=transport,
        )
        self._undo: list[RunbookAction] = []

    def run(self, action: RunbookAction) -> ActionResult:
        """Carry out action and remember how to undo it."""
        result, undo = self._carry_out(action)
        self._undo.append(undo)
        return result

    def _carry_out(self, action: RunbookAction) -> tuple[ActionResult, RunbookAction]:
        handler = getattr(self, f"_do_{action.action}", None)
        if handler is None:
            raise ActionError(f"no handler for runbook action {action.action!r}")
        return handler(**action.params)

    def _do_set_fallback(
        self, service: str, dependency: str, mode: str
    ) -> tuple[ActionResult, RunbookAction]:
        previous = self._admin("GET", service, "/admin/dependencies")
        before = previous.get(dependency, {}).get("fallback", "none")
        state = self._admin(
            "PUT", service, f"/admin/dependencies/{dependency}", json={"fallback": mode}
        )
        if state.get("fallback") != mode:
            raise ActionError(
                f"{service} did not switch {dependency} to fallback {mode!r}: {state}"
            )
        undo = RunbookAction(
            "set_fallback",
            {"service": service, "dependency": dependency, "mode": before},
        )
        result = ActionResult(
            "set_fallback",
            f"{service}->{dependency}",
            {"fallback": mode, "was": before},
        )
        return result, undo

    def _admin(self, method: str, service: str, path: str, **kwargs) -> dict:
        if service not in self.service_urls:
            raise ActionError(
                f"runbook names service {service!r}; known: "
                f"{', '.join(sorted(self.service_urls))}"
            )
        url = self.service_urls[service] + path
        try:
            response = self._client.request(method, url, **kwargs)
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
        for action in reversed(pending):
            try:
                results.append(self._carry_out(action)[0])
            except HarnessError:
                log.warning("could not undo runbook action %s", action, exc_info=True)
        return results

    def close(self) -> None:
        self._client.close()
