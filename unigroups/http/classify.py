"""``classify``: what an answer means (ok, retry after N s, refresh, fail), as a pure function.

No I/O and no state: the transport feeds it status, headers and body and acts on the verdict.
Tests feed it recorded answers.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

import attrs

from ..errors import BackendError, DecodingError, TransportError, build_error
from .jsonbody import json_value
from .redact import Redactor

__all__ = [
    "RETRY_AFTER_CEILING",
    "RETRY_STATUSES",
    "ErrorParser",
    "Fail",
    "Ok",
    "Refresh",
    "Retry",
    "VendorError",
    "Verdict",
    "classify",
    "parse_retry_after",
]

# 429: the vendor refused without acting. 500 and 502-504: a passing fault of the vendor or
# a gateway; it may have acted, so only requests safe to replay are sent again.
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
# A Retry-After longer than this (about 31 years, 1e400 included) is read as this: a wait
# that long means "not in this job's lifetime", and it stays a finite number in reports.
RETRY_AFTER_CEILING: Final = 1e9
BODY_EXCERPT: Final = 2048  # bytes of a body that is not JSON kept in an error


@attrs.frozen
class VendorError:
    """What a vendor's error body says, as a backend's wire module reads it."""

    message: str
    code: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)
    kind: type[BackendError] | None = None  # None: decided by the HTTP status


ErrorParser: TypeAlias = Callable[[int, Any], VendorError]


@attrs.frozen
class Ok:
    """A 2xx answer; ``data`` is its JSON (None for an empty body)."""

    data: Any


@attrs.frozen
class Retry:
    """A passing refusal. ``after``: the vendor's Retry-After in seconds (None: not given).
    ``acted``: False when the vendor provably did not act on the request (429, or it never
    arrived), None when it may have."""

    error: BackendError
    after: float | None = None
    acted: bool | None = None


@attrs.frozen
class Refresh:
    """401: the credentials were refused; renewed credentials may succeed."""

    error: BackendError


@attrs.frozen
class Fail:
    """A final answer: raise ``error``."""

    error: BackendError


Verdict: TypeAlias = Ok | Retry | Refresh | Fail


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date.

    None for garbage, NaN or a negative number; a date in the past is 0; anything past
    ``RETRY_AFTER_CEILING`` (1e400 included) is the ceiling.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        try:
            seconds = when.timestamp() - (time.time() if now is None else now)
        except (OverflowError, ValueError, OSError):
            return None
        seconds = max(0.0, seconds)
    if math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, RETRY_AFTER_CEILING) + 0.0  # + 0.0: "-0" reads as 0.0, not -0.0


def classify(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    parse_error: ErrorParser,
    backend: str,
    redact: Redactor | None = None,
    now: float | None = None,
) -> Verdict:
    """The verdict on one answer. ``now`` (wall clock) reads a Retry-After given as a date."""
    redact = redact or Redactor()
    if 200 <= status < 300:
        if not body.strip():
            return Ok(None)
        try:
            return Ok(json_value(body))
        except ValueError:
            return Fail(_undecodable(status, headers, body, backend, redact))
    if 300 <= status < 400:
        # Following a redirect could carry credentials to another host: refuse it.
        return Fail(
            TransportError(
                f"the vendor answered a redirect ({status}); redirects are not followed",
                backend=backend,
                status=status,
                raw=_excerpt(body, redact),
                request_sent=True,
            )
        )
    after = parse_retry_after(_header(headers, "Retry-After"), now)
    error = _refusal(status, body, parse_error, backend, redact, after)
    if status == 401:
        return Refresh(error)
    if status in RETRY_STATUSES:
        return Retry(error, after=after, acted=False if status == 429 else None)
    return Fail(error)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name whatever its case (aiohttp's headers are such a mapping already)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _excerpt(body: bytes, redact: Redactor) -> str:
    # Redacted before it is cut: a secret across the cut would leave a piece behind.
    text = body[: 2 * BODY_EXCERPT].decode("utf-8", errors="replace")
    return redact(text)[:BODY_EXCERPT]


def _undecodable(
    status: int, headers: Mapping[str, str], body: bytes, backend: str, redact: Redactor
) -> DecodingError:
    kind = redact(_header(headers, "Content-Type") or "no content type").split(";")[0].strip()
    return DecodingError(
        f"the vendor's answer is not JSON ({kind}, {len(body)} bytes); "
        "is the URL that of the vendor's API?",
        backend=backend,
        status=status,
        raw=_excerpt(body, redact),
    )


def _refusal(
    status: int,
    body: bytes,
    parse_error: ErrorParser,
    backend: str,
    redact: Redactor,
    retry_after: float | None,
) -> BackendError:
    try:
        parsed: Any = json_value(body) if body.strip() else None
    except ValueError:
        parsed = _excerpt(body, redact)  # HTML or plain text: kept as text, never a crash
    try:
        info = parse_error(status, parsed)
        if not isinstance(info, VendorError):
            raise TypeError(f"parse_error gave {type(info).__name__}, not a VendorError")
    except Exception:  # a vendor body of an unexpected shape is still an answer
        info = VendorError(message=f"HTTP {status}")
    return build_error(
        info.kind,
        redact(info.message),
        backend=backend,
        status=status,
        code=redact.optional(info.code),  # a vendor may echo a token as the code
        details=redact.value(dict(info.details)),
        raw=redact.value(parsed),
        retry_after=retry_after,
    )
