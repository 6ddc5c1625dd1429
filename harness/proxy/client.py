"""The harness's client for a Toxiproxy HTTP API: this package's server or the real one.

Every refusal and every transport failure is raised as
harness.errors.ProxyAPIError (see harness.jsonapi).
"""

from typing import Any
from urllib.parse import quote

import httpx

from harness.errors import ProxyAPIError
from harness.jsonapi import JsonAPIClient


class ToxiproxyClient(JsonAPIClient):
    """Calls one Toxiproxy-compatible server at base_url."""

    error = ProxyAPIError

    def version(self) -> str:
        """The server's version, e.g. "2.12.0"."""
        response = self._call("GET", "/version")
        try:
            return str(response.json()["version"])
        except (ValueError, KeyError, TypeError):
            # Toxiproxy before 2.6 answered with the bare version as text.
            return response.text.strip()

    def proxies(self) -> dict[str, dict[str, Any]]:
        return self._json("GET", "/proxies")

    def create_proxy(
        self, name: str, listen: str, upstream: str, enabled: bool = True
    ) -> dict[str, Any]:
        """Create a proxy; a listen port of 0 comes back as the bound port."""
        body = {"name": name, "listen": listen, "upstream": upstream}
        return self._json("POST", "/proxies", {**body, "enabled": enabled})

    def get_proxy(self, name: str) -> dict[str, Any]:
        return self._json("GET", _proxy_path(name))

    def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        """Change listen, upstream or enabled, e.g. update_proxy(n, enabled=False)."""
        # POST rather than PATCH: every Toxiproxy 2.x accepts it.
        return self._json("POST", _proxy_path(name), fields)

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", _proxy_path(name))

    def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create or replace proxies in one call; returns them as now served."""
        return self._json("POST", "/populate", proxies)["proxies"]

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self._json("GET", f"{_proxy_path(proxy)}/toxics")

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: dict[str, Any],
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Add a toxic; its name defaults to "<type>_<stream>" on the server."""
        body: dict[str, Any] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        if name is not None:
            body["name"] = name
        return self._json("POST", f"{_proxy_path(proxy)}/toxics", body)

    def update_toxic(
        self,
        proxy: str,
        toxic: str,
        attributes: dict[str, Any] | None = None,
        toxicity: float | None = None,
    ) -> dict[str, Any]:
        """Change a toxic's attributes (merged with its current ones) or toxicity."""
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = attributes
        if toxicity is not None:
            body["toxicity"] = toxicity
        return self._json("POST", _toxic_path(proxy, toxic), body)

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        self._call("DELETE", _toxic_path(proxy, toxic))

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset")

    def _error_message(self, response: httpx.Response) -> str:
        try:
            return str(response.json()["error"])
        except (ValueError, KeyError, TypeError):
            return super()._error_message(response)


def _proxy_path(name: str) -> str:
    return f"/proxies/{quote(name, safe='')}"


def _toxic_path(proxy: str, toxic: str) -> str:
    return f"{_proxy_path(proxy)}/toxics/{quote(toxic, safe='')}"
