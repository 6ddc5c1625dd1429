"""A client of one JSON HTTP API, the base of the proxy and mock admin clients.

Each instance holds its own connection pool and address, so several servers
can be driven at once. Every refusal and every transport failure is raised as
the subclass's `error` type; a transport failure has status 0 and keeps the
httpx error as its cause.
"""

import logging
from typing import Any, ClassVar, Self

import httpx

from harness.errors import APICallError

log = logging.getLogger(__name__)


class JsonAPIClient:
    """Calls one server at base_url; subclasses name their error type."""

    error: ClassVar[type[APICallError]] = APICallError

    def __init__(
        self, base_url: str, timeout_s: float = 5.0, headers: dict | None = None
    ):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout_s,
            headers=headers or {},
            # Servers of the estate are on 127.0.0.1: proxy variables of the
            # environment must not reroute calls meant for them.
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _json(self, method: str, path: str, body: object = None) -> Any:
        response = self._call(method, path, body)
        try:
            return response.json()
        except ValueError as exc:
            raise self.error(
                method, path, response.status_code, f"answer is not JSON: {exc}"
            ) from exc

    def _call(self, method: str, path: str, body: object = None) -> httpx.Response:
        log.debug("%s %s%s", method, self.base_url, path)
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise self.error(method, path, 0, reason) from exc

        if not response.is_success:
            raise self.error(
                method, path, response.status_code, self._error_message(response)
            )
        return response

    def _error_message(self, response: httpx.Response) -> str:
        """What the server said about a refusal, from its body."""
        return response.text.strip() or response.reason_phrase
