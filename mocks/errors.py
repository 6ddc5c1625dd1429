"""Exceptions of the mock services.

MockError
 ├── ConfigError (also ValueError): a config file that cannot be used as written
 ├── StorageError: the service's SQLite database cannot be opened or seeded
 └── RequestRefused: a request the service answers with an error status
      ├── Unauthorized: 401, the admin API was called without the admin token
      ├── Forbidden: 403, the admin API was called from beyond the loopback address
      ├── NotFound (also LookupError): 404, the named record does not exist
      ├── Rejected (also ValueError): 422, a business rule refused the input
      ├── Conflict: 409, the request clashes with the record's current state
      ├── DependencyFailed: 503, a dependency timed out, was unreachable or failed
      └── InjectedFault: the status an admin fault names, answered on purpose
"""

import json
import math


class MockError(Exception):
    """Base of every error the mock services raise on purpose."""


class ConfigError(MockError, ValueError):
    """A service config that names a bad field, value or combination."""


class StorageError(MockError):
    """The SQLite database under data_dir cannot be opened, created or seeded."""


class RequestRefused(MockError):
    """An error that becomes an HTTP answer with a JSON body."""

    status_code = 500
    error = "internal_error"
    headers: dict[str, str] = {}

    def body(self) -> dict:
        return {"error": self.error, "detail": str(self)}


class Unauthorized(RequestRefused):
    """The admin API needs the header `Authorization: Bearer <admin_token>`."""

    status_code = 401
    error = "unauthorized"
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(RequestRefused):
    """The admin API answers only callers on the loopback address."""

    status_code = 403
    error = "forbidden"


class NotFound(RequestRefused, LookupError):
    """The record named in the path does not exist."""

    status_code = 404
    error = "not_found"


class Rejected(RequestRefused, ValueError):
    """Well-formed input that a business rule refuses, with the field to blame."""

    status_code = 422
    error = "rejected"

    def __init__(self, field: str, value: object, reason: str):
        super().__init__(f"{field}={value!r}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason

    def body(self) -> dict:
        return {
            "error": self.error,
            "field": self.field,
            "value": _shown(self.value),
            "reason": self.reason,
        }


# A refusal repeats at most this much of the value it refused.
MAX_SHOWN_CHARS = 200


def _shown(value: object) -> object:
    """The value as JSON can carry it, cut short when it is long."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= MAX_SHOWN_CHARS:
        return value if isinstance(value, str) else json.loads(text)
    return f"{text[:MAX_SHOWN_CHARS]}... ({len(text)} characters)"


class Conflict(RequestRefused):
    """The request cannot apply to the record in its current state."""

    status_code = 409
    error = "conflict"


class DependencyFailed(RequestRefused):
    """A call to a dependency timed out, could not connect or answered 5xx."""

    status_code = 503
    error = "dependency_failed"

    def __init__(self, dependency: str, reason: str):
        super().__init__(f"{dependency}: {reason}")
        self.dependency = dependency
        self.reason = reason
        self.advice = ""  # what the caller can safely do next, when known

    def body(self) -> dict:
        body = {
            "error": self.error,
            "dependency": self.dependency,
            "reason": self.reason,
        }
        if self.advice:
            body["advice"] = self.advice
        return body


class InjectedFault(RequestRefused):
    """An error answer an admin fault asked for, with the status it names."""

    error = "injected_fault"

    def __init__(self, fault_id: str, status_code: int):
        super().__init__(f"fault {fault_id} answered {status_code}")
        self.fault_id = fault_id
        self.status_code = status_code

    def body(self) -> dict:
        return {"error": self.error, "fault_id": self.fault_id}


class Shed(RequestRefused):
    """503: the service is shedding load and refused this non-critical request."""

    status_code = 503
    error = "load_shed"

    def __init__(self, ratio: float, retry_after_s: int):
        super().__init__(
            f"shedding {ratio:.0%} of non-critical requests; "
            f"retry after {retry_after_s} s or send X-Priority: critical"
        )
        self.headers = {"Retry-After": str(retry_after_s)}
