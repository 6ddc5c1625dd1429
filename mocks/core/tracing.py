"""W3C trace context: accept an incoming traceparent, or start a new trace."""

import re
import secrets
from dataclasses import dataclass

_TRACEPARENT = re.compile(
    r"^(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-"
    r"(?P<parent_id>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})(?P<rest>.*)$"
)
_INVALID_TRACE_ID = "0" * 32
_INVALID_PARENT_ID = "0" * 16
_SAMPLED = "01"


@dataclass(frozen=True)
class TraceContext:
    """The trace one request belongs to, and the span this service opened for it."""

    trace_id: str
    span_id: str
    parent_id: str | None
    flags: str

    @classmethod
    def from_traceparent(cls, header: str | None) -> "TraceContext":
        """Continue the caller's trace; start a new one if the header is unusable."""
        fields = _parse(header)
        if fields is None:
            return cls(secrets.token_hex(16), secrets.token_hex(8), None, _SAMPLED)
        trace_id, parent_id, flags = fields
        return cls(trace_id, secrets.token_hex(8), parent_id, flags)

    def traceparent(self) -> str:
        """The header to send on calls made while serving this request."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def _parse(header: str | None) -> tuple[str, str, str] | None:
    match = _TRACEPARENT.match((header or "").strip())
    if match is None:
        return None
    version = match["version"]
    if version == "ff" or (version == "00" and match["rest"]):
        return None
    if version != "00" and match["rest"] and not match["rest"].startswith("-"):
        return None
    if match["trace_id"] == _INVALID_TRACE_ID:
        return None
    if match["parent_id"] == _INVALID_PARENT_ID:
        return None
    return match["trace_id"], match["parent_id"], match["flags"]
