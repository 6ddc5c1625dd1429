"""Refusals of the fault proxy's control API, each carrying its HTTP status.

ApiError: answered as {"error": message, "status": status}
 ├── BadRequest (also ValueError): 400, the request cannot be used as written
 ├── NotFound (also LookupError): 404, no proxy or toxic has that name
 ├── Conflict: 409, a proxy or toxic of that name exists already
 └── ListenError: 500, the listen address could not be bound

The leading words of each message are Toxiproxy's own, so that clients written
for Toxiproxy recognise them; details follow after a colon.
"""

import json


class ApiError(Exception):
    """A request the proxy refused; the status is the HTTP answer."""

    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}


class BadRequest(ApiError, ValueError):
    """The request body is malformed or holds a value that is not accepted."""

    status = 400

    @classmethod
    def body(cls, detail: str) -> "BadRequest":
        return cls(f"bad request body: {detail}")

    @classmethod
    def missing_field(cls, field: str) -> "BadRequest":
        return cls(f"missing required field: {field}")

    @classmethod
    def unaddressable(cls, field: str, name: str) -> "BadRequest":
        """A name no URL path of the API could reach once created."""
        return cls.body(
            f"{field} {json.dumps(name)} contains '/', so no API path could "
            "reach it; use letters, digits, '-', '_' or '.'"
        )


class NotFound(ApiError, LookupError):
    """No proxy, or no toxic on the proxy, has the name in the path."""

    status = 404

    @classmethod
    def proxy(cls) -> "NotFound":
        return cls("proxy not found")

    @classmethod
    def toxic(cls) -> "NotFound":
        return cls("toxic not found")


class Conflict(ApiError):
    """A proxy or toxic with the requested name exists already."""

    status = 409

    @classmethod
    def proxy(cls) -> "Conflict":
        return cls("proxy already exists")

    @classmethod
    def toxic(cls) -> "Conflict":
        return cls("toxic already exists")


class ListenError(ApiError):
    """The operating system refused the listen address (in use, not local)."""

    status = 500
