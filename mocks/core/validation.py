"""The 422 answer for a request that does not fit a route's model.

FastAPI's own answer repeats each offending input, and the JSON parser accepts
NaN and Infinity, which the JSON encoder then refuses: a body holding
Infinity turned a client's mistake into a 500. Here every non-finite number
is repeated as its text instead.
"""

import math

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


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
