"""The one HTTP transport every backend uses: retries, limits, auth refresh, redaction.

Backends describe requests (method, path, JSON) and say how to read their vendor's error
bodies; everything about getting an answer across an unreliable, rate-limited network lives
here, once.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final, Protocol
from urllib.parse import quote, urlsplit

import aiohttp
import attrs

from .errors import (
    BackendError,
    ConfigurationError,
    TransportError,
    build_error,
)
from .options import is_loopback

__all__ = [
    "Auth",
    "ErrorParser",
    "Reply",
    "Transport",
    "TransportOptions",
    "TransportPolicy",
    "VendorError",
    "path_segment",
]

log = logging.getLogger("unigroups.http")


class RequestObserver(Protocol):
    """Told what happened underneath a call; set by a job (the batch engine) for its tasks."""

    def rate_limited(self, retry_after: float | None) -> bool:
        """A 429 came back. True: the job retries the call itself, so the transport raises
        RateLimitedError at once instead of waiting and sending it again (a job that paces
        itself should not hold its slot while it waits); False: the transport retries it."""

    def fate_unknown(self) -> None:
        """A request may have reached the vendor without an answer, and is being sent again."""


request_observer: contextvars.ContextVar[RequestObserver | None] = contextvars.ContextVar(
    "unigroups_request_observer", default=None
)

_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "HEAD", "OPTIONS"})


def _positive(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ConfigurationError(f"{attribute.name} must be positive", option=attribute.name)


def _not_negative(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ConfigurationError(f"{attribute.name} must not be negative", option=attribute.name)


@attrs.frozen
class TransportPolicy:
    """Every knob of the transport, with defaults that suit a rate-limited CRM API."""

    timeout: float = attrs.field(default=30.0, validator=_positive)  # seconds per attempt
    max_concurrency: int = attrs.field(default=10, validator=_positive)  # calls in flight
    retries: int = attrs.field(default=5, validator=_not_negative)  # attempts after the first
    backoff_base: float = attrs.field(default=0.25, validator=_not_negative)  # first backoff cap
    backoff_max: float = attrs.field(default=20.0, validator=_not_negative)  # any backoff cap
    max_retry_after: float = attrs.field(default=120.0, validator=_not_negative)
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    # A 429 says the vendor refused the call without acting on it, so even a POST is safe to
    # send again; other statuses are retried for idempotent methods only.
    post_retry_statuses: frozenset[int] = frozenset({429})
    body_excerpt: int = attrs.field(default=2048, validator=_positive)  # bytes kept in errors

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with full jitter for retry number ``attempt`` (from 1)."""
        return rng.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))


@attrs.frozen
class TransportOptions:
    """The options every backend built on this transport takes (a base for config classes)."""

    session: aiohttp.ClientSession | None = attrs.field(default=None, repr=False)
    max_concurrency: int = attrs.field(default=10, validator=_positive)  # calls in flight
    timeout: float = attrs.field(default=30.0, validator=_positive)  # seconds per attempt
    retry: int = attrs.field(default=5, validator=_not_negative)  # attempts after the first

    def policy(self) -> TransportPolicy:
        return TransportPolicy(
            timeout=self.timeout, max_concurrency=self.max_concurrency, retries=self.retry
        )


@attrs.frozen
class VendorError:
    """What a vendor's error body says, as a backend's wire module reads it."""

    message: str
    code: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)
    kind: type[BackendError] | None = None  # None: decided by the HTTP status


ErrorParser = Callable[[int, Any], VendorError]


@attrs.frozen
class Reply:
    """A successful answer: status, headers, and the parsed JSON (None for an empty body)."""

    status: int
    headers: Mapping[str, str]
    data: Any


class Auth(Protocol):
    """How a backend authenticates; the transport asks it for headers and, on 401, to refresh."""

    async def headers(self) -> Mapping[str, str]: ...

    async def refresh(self, stale: Mapping[str, str]) -> bool:
        """Renew the credentials that ``stale`` carried; False if they cannot be renewed."""
        ...

    def secrets(self) -> Iterable[str]: ...


class Redactor:
    """Replaces every configured secret in text with ``***``."""

    def __init__(self, sources: Callable[[], Iterable[str]]) -> None:
        self._sources = sources

    def __call__(self, text: str) -> str:
        for secret in self._sources():
            if secret and len(secret) >= 4:  # a 1-3 character "secret" would shred the text
                text = text.replace(secret, "***")
        return text

    def value(self, data: Any) -> Any:
        """``data`` (parsed JSON) with secrets removed from every string in it."""
        if isinstance(data, str):
            return self(data)
        if isinstance(data, dict):
            return {self(str(k)): self.value(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.value(v) for v in data]
        return data


def path_segment(value: str) -> str:
    """Quote one URL path segment; ids are validated before, this is the second fence."""
    return quote(value, safe="")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class _Attempt(Exception):
    """One attempt failed in a way that may be retried."""

    def __init__(self, error: BackendError, *, retryable: bool, wait: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.wait = wait


class Transport:
    """JSON over aiohttp for one backend.

    Owns its ``aiohttp.ClientSession`` unless one is handed in; a borrowed session is never
    closed. Redirects are never followed, so credentials cannot leak to another host.
    """

    def __init__(
        self,
        *,
        backend: str,
        base_url: str,
        parse_error: ErrorParser,
        auth: Auth | None = None,
        policy: TransportPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        headers: Mapping[str, str] | None = None,
        secrets: Callable[[], Iterable[str]] = lambda: (),
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.backend = backend
        self.base_url = base_url.rstrip("/")
        self.policy = policy or TransportPolicy()
        self._parse_error = parse_error
        self.auth = auth
        self._session = session
        self._owns_session = session is None
        self._headers = dict(headers or {})
        self.redact = Redactor(lambda: (*secrets(), *(self.auth.secrets() if self.auth else ())))
        self._limit = asyncio.Semaphore(self.policy.max_concurrency)
        self._rng = rng or random.Random()
        self._sleep = sleep
        if session is not None:
            _refuse_unverified_tls(session, self.base_url)
        # Counters for jobs and benchmarks: what the network did.
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "rate_limited": 0}
        self._timeout = aiohttp.ClientTimeout(total=self.policy.timeout)

    @classmethod
    def from_options(
        cls,
        options: TransportOptions,
        *,
        backend: str,
        base_url: str,
        parse_error: ErrorParser,
        secrets: Callable[[], Iterable[str]],
    ) -> Transport:
        """The transport a backend's config asks for (its auth is set by the backend)."""
        return cls(
            backend=backend,
            base_url=base_url,
            parse_error=parse_error,
            policy=options.policy(),
            session=options.session,
            secrets=secrets,
        )

    def __repr__(self) -> str:
        return f"Transport(backend={self.backend!r}, base_url={self.base_url!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.policy.max_concurrency * 2)
            )
            # aiohttp silently resends an idempotent request once when a pooled connection
            # drops; this transport retries itself, and must see every such drop to know that a
            # request's fate is unknown (a DELETE may have happened before the drop).
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
            self._owns_session = True
        return self._session

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None if self._owns_session else self._session

    async def request(
        self,
        method: str,
        path: str = "",
        *,
        url: str | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
    ) -> Reply:
        """Send one request, retrying what may be retried; return the answer or raise.

        ``path`` is joined to ``base_url``; ``url`` replaces both (for token endpoints).
        """
        method = method.upper()
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(
                    method, url, path, params, json_body, form, headers, authenticate, attempt
                )
            except _NeedsRefresh as stale:
                if refreshed or self.auth is None or not await self.auth.refresh(stale.headers):
                    raise stale.error from None
                refreshed = True  # one refresh per call; a second 401 is the answer
                attempt -= 1
            except _Attempt as failed:
                if not failed.retryable or attempt > self.policy.retries:
                    raise failed.error from None
                self.stats["retries"] += 1
                observer = request_observer.get()
                if observer is not None and getattr(failed.error, "request_sent", None):
                    observer.fate_unknown()
                wait = self.policy.backoff(attempt, self._rng)
                if failed.wait is not None:
                    wait = max(wait, min(failed.wait, self.policy.max_retry_after))
                await self._sleep(wait)

    async def _attempt(
        self,
        method: str,
        url: str | None,
        path: str,
        params: Mapping[str, str] | None,
        json_body: Any,
        form: Mapping[str, str] | None,
        extra_headers: Mapping[str, str] | None,
        authenticate: bool,
        attempt: int,
    ) -> Reply:
        headers = {"Accept": "application/json", **self._headers, **(extra_headers or {})}
        auth_headers: Mapping[str, str] = {}
        if authenticate and self.auth is not None:
            auth_headers = await self.auth.headers()
            headers.update(auth_headers)
        # Joined after the auth step: a token refresh may move the API to another domain.
        target = url or f"{self.base_url}{path}"
        data: Any = None
        if json_body is not None:
            data = _json_bytes(json_body)
            headers["Content-Type"] = "application/json; charset=utf-8"
        elif form is not None:
            data = aiohttp.FormData(dict(form))
        if self._timeout.total != self.policy.timeout:  # one object for every request
            self._timeout = aiohttp.ClientTimeout(total=self.policy.timeout)
        started = time.monotonic()
        async with self._limit:
            self.stats["requests"] += 1
            try:
                async with self.session.request(
                    method,
                    target,
                    params=params,
                    data=data,
                    headers=headers,
                    allow_redirects=False,
                    timeout=self._timeout,
                ) as response:
                    body = await response.read()
                    status = response.status
                    # Kept as received: immutable, and case-insensitive like HTTP headers.
                    response_headers = response.headers
            except aiohttp.ClientConnectorError as exc:
                # The connection was never made: nothing reached the server, any method retries.
                self._log(method, target, None, attempt, started, type(exc).__name__)
                raise _Attempt(
                    self._network_error(method, target, exc, request_sent=False), retryable=True
                ) from None
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._log(method, target, None, attempt, started, type(exc).__name__)
                raise _Attempt(
                    self._network_error(method, target, exc, request_sent=True),
                    retryable=method in _IDEMPOTENT,
                ) from None
        self._log(method, target, status, attempt, started, None)
        if 200 <= status < 300:
            return Reply(status, response_headers, self._decode(status, body))
        raise self._refusal(method, status, response_headers, body, auth_headers)

    def _log(
        self,
        method: str,
        target: str,
        status: int | None,
        attempt: int,
        started: float,
        err: str | None,
    ) -> None:
        if log.isEnabledFor(logging.DEBUG):  # the path is worked out only when it is logged
            log.debug(
                "%s %s -> %s attempt=%d elapsed=%.3fs",
                method,
                self.redact(urlsplit(target).path),
                status if status is not None else err,
                attempt,
                time.monotonic() - started,
            )

    def _network_error(
        self, method: str, target: str, exc: BaseException, *, request_sent: bool
    ) -> TransportError:
        path = urlsplit(target).path
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        fate = (
            "the vendor may or may not have acted on it"
            if request_sent
            else "it never reached the vendor"
        )
        return TransportError(
            self.redact(f"{method} {path} failed: {reason} ({fate})"),
            backend=self.backend,
            request_sent=request_sent,
        )

    def _excerpt(self, body: bytes) -> str:
        return self.redact(body[: self.policy.body_excerpt].decode("utf-8", errors="replace"))

    def _decode(self, status: int, body: bytes) -> Any:
        if not body.strip():
            return None
        try:
            return _json_value(body)
        except ValueError:
            raise TransportError(
                "the vendor's answer is not JSON",
                backend=self.backend,
                status=status,
                raw=self._excerpt(body),
            ) from None

    def _refusal(
        self,
        method: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        auth_headers: Mapping[str, str],
    ) -> Exception:
        if 300 <= status < 400:
            # Following a redirect could carry credentials to another host: refuse it.
            error: BackendError = TransportError(
                f"the vendor answered a redirect ({status}); redirects are not followed",
                backend=self.backend,
                status=status,
                raw=self._excerpt(body),
            )
            return _Attempt(error, retryable=False)
        try:
            parsed: Any = _json_value(body) if body.strip() else None
        except ValueError:
            parsed = self._excerpt(body)  # HTML or plain text: kept as text, never a crash
        try:
            info = self._parse_error(status, parsed)
        except Exception:  # a vendor body of an unexpected shape is still an answer
            info = VendorError(message=f"HTTP {status}")
        retry_after = parse_retry_after(headers.get("Retry-After"))
        error = build_error(
            info.kind,
            self.redact(info.message),
            backend=self.backend,
            status=status,
            code=info.code,
            details=self.redact.value(dict(info.details)),
            raw=self.redact.value(parsed),
            retry_after=retry_after,
        )
        if status == 401 and auth_headers:
            return _NeedsRefresh(error, auth_headers)
        if status == 429:
            self.stats["rate_limited"] += 1
            observer = request_observer.get()
            if observer is not None and observer.rate_limited(retry_after):
                return _Attempt(error, retryable=False)
        retry_statuses = (
            self.policy.retry_statuses if method in _IDEMPOTENT else self.policy.post_retry_statuses
        )
        return _Attempt(error, retryable=status in retry_statuses, wait=retry_after)


# Far deeper than any vendor answer, and shallow enough for the recursive code downstream
# (redaction, cattrs, repr) to walk without a RecursionError.
_MAX_JSON_DEPTH: Final = 64


def _json_value(body: bytes) -> Any:
    """A JSON body; ValueError when it is not UTF-8, not JSON, or not what Python can hold
    (a number of more than 4300 digits, nesting deeper than ``_MAX_JSON_DEPTH``)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
    if _too_deep(body):
        raise ValueError("JSON nested too deep")
    return data


# Every byte but quotes and brackets, to delete; and objects read as arrays (only depth counts).
_NOT_STRUCTURE: Final = bytes(b for b in range(256) if b not in b'"[]{}')
_ARRAYS: Final = bytes.maketrans(b"{}", b"[]")
_QUOTED: Final = re.compile(rb'"[^"]*"')


def _too_deep(body: bytes) -> bool:
    """Whether ``body`` (valid JSON) nests containers deeper than ``_MAX_JSON_DEPTH``.

    Worked out on the bytes, at C speed: a page of 200 groups is read in a fraction of the
    time a walk over the parsed values takes. UTF-8 never puts an ASCII byte inside another
    character, so quotes and brackets are found byte by byte.
    """
    if b"\\" in body:
        # An escaped backslash or quote never ends a string: take them out first.
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = body.translate(_ARRAYS, _NOT_STRUCTURE)  # only " [ ] are left
    quotes = skeleton.count(b'"')
    if len(skeleton) - quotes <= _MAX_JSON_DEPTH:
        return False  # nothing can nest deeper than it has brackets
    if quotes:
        # When every string's two quotes are adjacent, no string holds a bracket (the usual
        # case, and a C-speed count); otherwise the strings' text is cut out one by one.
        paired = skeleton.count(b'""') * 2 == quotes
        skeleton = skeleton.translate(None, b'"') if paired else _QUOTED.sub(b"", skeleton)
    for _ in range(_MAX_JSON_DEPTH):  # each pass removes one level: the innermost pairs
        if not skeleton:
            return False
        skeleton = skeleton.replace(b"[]", b"")
    return bool(skeleton)


def _json_bytes(value: Any) -> bytes:
    """``value`` as UTF-8 JSON; a lone surrogate (which UTF-8 cannot carry) is sent escaped."""
    try:
        return json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(value).encode()


class _NeedsRefresh(Exception):
    def __init__(self, error: BackendError, headers: Mapping[str, str]) -> None:
        super().__init__(str(error))
        self.error = error
        self.headers = headers


def _refuse_unverified_tls(session: aiohttp.ClientSession, base_url: str) -> None:
    """A borrowed session must not have certificate checks turned off."""
    connector = session.connector
    ssl = getattr(connector, "_ssl", None)
    if ssl is False and not is_loopback(urlsplit(base_url).hostname):
        raise ConfigurationError(
            "the session's connector turns TLS certificate verification off (ssl=False); "
            "unigroups refuses to send credentials over it",
            option="session",
        )
