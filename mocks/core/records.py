"""Small shared pieces of the services' records: ids, timestamps, field types."""

import hashlib
from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field

from mocks.errors import NotFound

CUSTOMER_ID = r"^CUST-\d{6,}$"
POLICY_ID = r"^POL-\d{6,}$"
CLAIM_ID = r"^CLM-\d{6,}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# A sum of money in cents: a JSON integer, never a float or a string.
PositiveCents = Annotated[int, Field(gt=0, le=10**12, strict=True)]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=128)]


def numbered_id(prefix: str, number: int) -> str:
    return f"{prefix}-{number:06d}"


def utc_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def digest(*parts: object, length: int = 8) -> str:
    """A short stable hex digest of the parts, for deterministic stub answers."""
    joined = "|".join(str(part) for part in parts)
    return hashlib.sha256(joined.encode()).hexdigest()[:length]


def found(record: dict | None, what: str, record_id: str) -> dict:
    if record is None:
        raise NotFound(f"no {what} with id {record_id!r}")
    return record
