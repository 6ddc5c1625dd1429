"""Exceptions of the harness.

HarnessError
 ├── ConfigError (also ValueError): bad configuration or experiment input
 ├── StackError: a part of the estate could not be started or reached
 ├── APICallError: an HTTP API refused a call, or could not be reached
 │    ├── ProxyAPIError: the fault proxy's API
 │    └── MockAdminError: a mock's admin API
 ├── FaultError: a fault could not be applied or rolled back
 └── ReportError (also ValueError): a run folder whose journal cannot be read
"""


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class ConfigError(HarnessError, ValueError):
    """Configuration or experiment input that cannot be used as written."""


class StackError(HarnessError):
    """A process of the estate failed to start, answer or stop."""


class APICallError(HarnessError):
    """An HTTP API refused or failed a call; status 0 when it was unreachable."""

    def __init__(self, method: str, path: str, status: int, message: str):
        super().__init__(f"{method} {path} -> HTTP {status}: {message}")
        self.method = method
        self.path = path
        self.status = status
        self.message = message


class ProxyAPIError(APICallError):
    """The fault proxy's HTTP API refused or failed a call."""


class FaultError(HarnessError):
    """A fault could not be injected, verified or rolled back."""


class MockAdminError(APICallError):
    """A mock's admin API refused or failed a call."""


class ReportError(HarnessError, ValueError):
    """A run folder's journal.json is missing or not a journal."""
