"""The 422 answer for a request that does not fit a route's model.

FastAPI's own answer repeats each offending input, and the JSON parser accepts
NaN and Infinity, which the JSON encoder then refuses: a body holding
Infinity turned a client's mistake into a 500. Here every non-finite number
is repeated as its text instead.
"""

import json
import math

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mocks.errors import Rejected


async def answer_invalid_request(
    request: Request, exc: RequestValidationError
) -> JSONResponse:
    errors = _finite(jsonable_encoder(exc.errors()))
    return JSONResponse({"detail": errors}, status_code=422)


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


def read_json(raw: bytes) -> object:
    """Parse a request body strictly; Rejected names what is wrong with it.

    NaN and Infinity are not JSON, a key given twice would silently lose one
    value, and deep nesting would exhaust the parser's recursion: each is the
    client's mistake, so each is a 422 rather than a 500.
    """
    try:
        return json.loads(
            raw, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys
        )
    except RecursionError:
        raise Rejected("body", f"{len(raw)} bytes", "JSON nested less deeply") from None
    except ValueError as exc:
        if isinstance(exc, Rejected):
            raise
        shown = raw.decode(errors="replace")
        raise Rejected("body", shown, "a JSON object") from exc


def _refuse_constant(name: str) -> object:
    raise Rejected("body", name, "finite numbers only; JSON has no NaN or Infinity")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    body: dict = {}
    for key, value in pairs:
        if key in body:
            raise Rejected(key, value, "each field once; it appears twice")
        body[key] = value
    return body
