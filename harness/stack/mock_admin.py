"""The harness's client for one mock's admin fault API (see docs/mock-faults.md).

Every refusal and every transport failure is raised as
harness.errors.MockAdminError (see harness.jsonapi).
"""

from typing import Any
from urllib.parse import quote

import httpx

from harness.errors import MockAdminError
from harness.jsonapi import JsonAPIClient


class MockAdminClient(JsonAPIClient):
    """Calls the admin API of the mock at base_url with its admin token."""

    error = MockAdminError

    def __init__(self, base_url: str, admin_token: str, timeout_s: float = 5.0):
        super().__init__(
            base_url, timeout_s, headers={"Authorization": f"Bearer {admin_token}"}
        )

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

    def dependencies(self) -> dict[str, dict[str, Any]]:
        """Each dependency's fallback, policy and breaker state."""
        return self._json("GET", "/admin/dependencies")

    def set_dependency(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change one dependency's fallback and policy fields together."""
        return self._json("PUT", f"/admin/dependencies/{quote(name, safe='')}", changes)

    def _error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return super()._error_message(response)
        if isinstance(body, dict) and "field" in body:
            return f"{body['field']}={body.get('value')!r}: {body.get('reason')}"
        if isinstance(body, dict) and "detail" in body:
            return str(body["detail"])
        return str(body)


def _fault_path(fault_id: str) -> str:
    return f"/admin/faults/{quote(fault_id, safe='')}"
