"""The OAuth refresh-token grant, sent once per renewal through the send step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import (
    AuthenticationError,
    DecodingError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from .classify import parse_retry_after
from .jsonbody import json_value
from .redact import Redactor
from .send import Sender

__all__ = ["expires_in", "refresh_token_grant"]

ADVICE = "check client_id, client_secret and refresh_token"


async def refresh_token_grant(
    sender: Sender,
    url: str,
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    redact: Redactor,
) -> Mapping[str, Any]:
    """POST the refresh-token grant to ``url`` once; the answer's JSON as the vendor sent it
    (its field names are the backend's to read).

    A refusal is an ``AuthenticationError`` whose message and code carry the endpoint's
    ``error`` and ``error_description`` with every secret taken out; a passing fault (the
    network, 5xx, 429) keeps its own type, so a caller may try again later. It is not
    retried here: vendors throttle token requests (Zoho: 10 per 10 minutes).
    """
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
    }
    answer = await sender.send("POST", url, headers={"Accept": "application/json"}, data=form)
    backend = sender.backend
    if isinstance(answer, TransportError):
        raise answer
    try:
        data: Any = json_value(answer.body) if answer.body.strip() else None
    except ValueError:
        data = None
    if answer.status == 429:
        raise RateLimitedError(
            "the token endpoint is rate limited; renew less often",
            backend=backend,
            status=429,
            retry_after=parse_retry_after(answer.headers.get("Retry-After")),
        )
    if answer.status >= 500:
        raise ServerError(
            f"the token endpoint failed (HTTP {answer.status})",
            backend=backend,
            status=answer.status,
        )
    if not isinstance(data, dict):
        if 200 <= answer.status < 300:
            raise DecodingError("the token endpoint's answer is not a JSON object", backend=backend)
        data = {}
    error, description = data.get("error"), data.get("error_description")
    if answer.status >= 300 or error is not None or not isinstance(data.get("access_token"), str):
        code = redact(error) if isinstance(error, str) else None
        said = "; ".join(redact(str(part)) for part in (error, description) if part)
        raise AuthenticationError(
            f"the token endpoint refused to renew the access token ({said or 'no reason'}); "
            f"{ADVICE}",
            backend=backend,
            status=answer.status,
            code=code,
        )
    answer_json: Mapping[str, Any] = data
    return answer_json


def expires_in(data: Mapping[str, Any], *keys: str) -> float | None:
    """The first of ``keys`` in a token answer that holds a number of seconds."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None
