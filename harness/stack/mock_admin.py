"""The harness's client for one mock's admin fault API (see docs/mock-faults.md).

Each client holds its own connection pool, address and token, so several mocks
can be driven at once. Every refusal and every transport failure is raised as
harness.errors.MockAdminError; a transport failure has status 0 and keeps the
httpx error as its cause.
"""

import logging
from typing import Any, Self
from urllib.parse import quote

import httpx

from harness.errors import MockAdminError

log = logging.getLogger(__name__)


class MockAdminClient:
    """Calls the admin API of the mock at base_url with its admin token."""

    def __init__(self, base_url: str, admin_token: str, timeout_s: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {admin_token}"},
            # Mocks listen on 127.0.0.1; proxy variables must not reroute calls.
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add_fault(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Inject a fault, e.g. add_fault("error", status_code=503, rate=0.5)."""
        return self._json("POST", "/admin/faults", {"kind": kind, **fields})

    def faults(self) -> list[dict[str, Any]]:
        return self._json("GET", "/admin/faults")["faults"]

    def version(self) -> str:
        """The version the mock reports as running (changed by a bad deploy)."""
        return self._json("GET", "/admin/faults")["version"]

    def fault(self, fault_id: str) -> dict[str, Any]:
        return self._json("GET", _fault_path(fault_id))

    def remove_fault(self, fault_id: str) -> dict[str, Any]:
        return self._json("DELETE", _fault_path(fault_id))

    def clear_faults(self) -> list[dict[str, Any]]:
        return self._json("DELETE", "/admin/faults")["removed"]

    def rollback(self) -> dict[str, Any]:
        """Undo the active bad deploy; the answer names the restored version."""
        return self._json("POST", "/admin/deploy/rollback")

    def _json(self, method: str, path: str, body: object = None) -> Any:
        response = self._call(method, path, body)
        try:
            return response.json()
        except ValueError as exc:
            raise MockAdminError(
                method, path, response.status_code, f"answer is not JSON: {exc}"
            ) from exc

    def _call(self, method: str, path: str, body: object = None) -> httpx.Response:
        log.debug("%s %s%s", method, self.base_url, path)
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise MockAdminError(method, path, 0, reason) from exc
        if not response.is_success:
            raise MockAdminError(
                method, path, response.status_code, _error_message(response)
            )
        return response


def _fault_path(fault_id: str) -> str:
    return f"/admin/faults/{quote(fault_id, safe='')}"


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict) and "field" in body:
        return f"{body['field']}={body.get('value')!r}: {body.get('reason')}"
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)
