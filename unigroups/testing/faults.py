"""Pieces every vendor emulator shares: fault injection, token lifetimes, OAuth refresh
checks and request recording.

The vendor modules only supply what differs (error bodies, which paths are the auth
endpoints); the mechanics live here once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import json
import random
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

__all__ = [
    "DEFAULT_LIFETIME",
    "ErrorBody",
    "Fault",
    "FaultPolicy",
    "FaultStats",
    "GrantCheck",
    "OAuthClient",
    "RecordedRequest",
    "TokenState",
    "TokenStore",
    "fault_middleware",
    "oauth_fields",
    "recording_middleware",
]

ErrorBody = Callable[[int, str], web.Response]
"""Builds the vendor's answer for an injected error status and a short message."""

RequestFilter = Callable[[web.Request], bool]


def _rate(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be within [0, 1], got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


def _reseed(
    instance: FaultPolicy, attribute: attrs.Attribute[Any], value: int | None
) -> int | None:
    # Setting a new seed mid-run restarts the sequence, as a fresh policy would.
    instance.rng = random.Random(value)
    return value


class Fault(enum.Enum):
    """What the random draw decided for one request."""

    NONE = "none"
    TOO_MANY_REQUESTS = "429"
    INTERNAL_ERROR = "500"
    UNAVAILABLE = "503"
    DROP = "drop"
    SLOW = "slow"


@attrs.define
class FaultPolicy:
    """Knobs for injected failures; mutable so a test can change them mid-run.

    Each faultable request takes exactly one number from ``rng`` whatever the rates are, so
    a seeded policy gives the same fault sequence for the same sequence of requests.
    The rates are bands of one draw (429, 500, 503, drop, slow, in that order) and must not
    add up to more than 1.

    ``slow_rate``: the answer is held back ``slow_delay`` seconds *before* the request is
    handled; if the client has gone by then (it timed out), the request is not handled at
    all, so a timed-out slow request never changes state.  For the "changed state but the
    client never learned it" case use ``drop_rate`` with ``drop_after_handling=True``.
    """

    latency: float = attrs.field(default=0.0, validator=_non_negative)
    max_in_flight: int | None = None
    rate_429: float = attrs.field(default=0.0, validator=_rate)
    rate_500: float = attrs.field(default=0.0, validator=_rate)
    rate_503: float = attrs.field(default=0.0, validator=_rate)
    drop_rate: float = attrs.field(default=0.0, validator=_rate)
    drop_after_handling: bool = False
    slow_rate: float = attrs.field(default=0.0, validator=_rate)
    slow_delay: float = attrs.field(default=5.0, validator=_non_negative)
    retry_after: float | None = None
    seed: int | None = attrs.field(default=None, on_setattr=_reseed)
    faults_on_auth: bool = False
    rng: random.Random = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def draw(self) -> Fault:
        """Pick the fault for one request (always consumes one random number)."""
        bands = (
            (self.rate_429, Fault.TOO_MANY_REQUESTS),
            (self.rate_500, Fault.INTERNAL_ERROR),
            (self.rate_503, Fault.UNAVAILABLE),
            (self.drop_rate, Fault.DROP),
            (self.slow_rate, Fault.SLOW),
        )
        if sum(rate for rate, _ in bands) > 1.0 + 1e-9:
            raise ValueError("fault rates add up to more than 1")
        point = self.rng.random()
        for rate, fault in bands:
            if point < rate:
                return fault
            point -= rate
        return Fault.NONE


@attrs.define
class FaultStats:
    """What the fault middleware saw. ``in_flight``/``peak_in_flight`` count only the
    requests faults apply to (the API, not the token endpoint)."""

    requests: int = 0
    statuses: collections.Counter[int] = attrs.field(factory=collections.Counter)
    capped: int = 0
    injected: collections.Counter[int] = attrs.field(factory=collections.Counter)
    drops: int = 0
    slow: int = 0
    slow_abandoned: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0

    @property
    def too_many_requests(self) -> int:
        """Every 429 answered, whether from the in-flight cap or drawn at random."""
        return self.statuses[429]

    def reset(self) -> None:
        """Zero the counters (``in_flight`` is live state and is kept)."""
        fresh = FaultStats(in_flight=self.in_flight)
        for field in attrs.fields(FaultStats):
            setattr(self, field.name, getattr(fresh, field.name))


_INJECTED_MESSAGES = {
    429: "too many requests",
    500: "internal server error (injected)",
    503: "service unavailable (injected)",
}
_STATUS_OF = {
    Fault.TOO_MANY_REQUESTS: 429,
    Fault.INTERNAL_ERROR: 500,
    Fault.UNAVAILABLE: 503,
}


def _never(request: web.Request) -> bool:
    return False


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _wait_unless_gone(request: web.Request, delay: float) -> bool:
    """Sleep ``delay`` seconds; False as soon as the client disconnects.

    Polling keeps a server shutdown from waiting out a long delay nobody listens to.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay
    while (remaining := deadline - loop.time()) > 0:
        if _client_gone(request):
            return False
        await asyncio.sleep(min(0.02, remaining))
    return not _client_gone(request)


def _drop(request: web.Request) -> web.Response:
    # Closing the socket before any byte of the answer makes aiohttp clients raise
    # ServerDisconnectedError; the returned response then fails to write, which aiohttp
    # swallows as a ConnectionError.
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=204)


def _format_seconds(value: float) -> str:
    # Whole seconds as RFC 9110 wants; fractions are kept so tests can stay fast.
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def fault_middleware(
    policy: FaultPolicy,
    stats: FaultStats,
    error_body: ErrorBody,
    *,
    exempt: RequestFilter = _never,
) -> Middleware:
    """Middleware injecting the faults ``policy`` asks for and counting into ``stats``.

    ``exempt`` marks the auth/token endpoints: they get no faults unless
    ``policy.faults_on_auth``.  Order per request: the in-flight cap (an immediate 429,
    no latency), then ``latency``, then one random draw.
    """

    def injected(status: int, message: str | None = None) -> web.Response:
        response = error_body(status, message or _INJECTED_MESSAGES[status])
        if status == 429 and policy.retry_after is not None:
            response.headers["Retry-After"] = _format_seconds(policy.retry_after)
        stats.injected[status] += 1
        return response

    async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            stats.statuses[exc.status] += 1
            raise
        stats.statuses[response.status] += 1
        return response

    async def faulty(request: web.Request, handler: Handler) -> web.StreamResponse:
        if policy.latency:
            await asyncio.sleep(policy.latency)
        fault = policy.draw()
        if fault in _STATUS_OF:
            response = injected(_STATUS_OF[fault])
            stats.statuses[response.status] += 1
            return response
        if fault is Fault.DROP:
            stats.drops += 1
            if policy.drop_after_handling:
                # The state change, if any, happens; the client learns nothing of it.
                with contextlib.suppress(web.HTTPException):
                    await handler(request)
            return _drop(request)
        if fault is Fault.SLOW:
            stats.slow += 1
            if not await _wait_unless_gone(request, policy.slow_delay):
                stats.slow_abandoned += 1
                return web.Response(status=204)  # nobody is listening any more
        return await answer(request, handler)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        stats.requests += 1
        if exempt(request) and not policy.faults_on_auth:
            return await answer(request, handler)
        if policy.max_in_flight is not None and stats.in_flight >= policy.max_in_flight:
            stats.capped += 1
            response = injected(429, "too many concurrent requests")
            stats.statuses[429] += 1
            return response
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            return await faulty(request, handler)
        finally:
            stats.in_flight -= 1

    return middleware


# --- tokens -------------------------------------------------------------------------------


class _Default(enum.Enum):
    DEFAULT = "default"


DEFAULT_LIFETIME = _Default.DEFAULT
"""Sentinel: use the store's ``default_lifetime``."""

TokenState = Literal["ok", "expired", "unknown"]


@attrs.define
class _Token:
    expires_at: float | None
    read_only: bool


@attrs.define
class TokenStore:
    """Access tokens (or tickets) with an expiry on a monotonic clock.

    ``default_lifetime`` of None means tokens never expire.
    """

    default_lifetime: float | None = None
    prefix: str = ""
    clock: Callable[[], float] = time.monotonic
    _tokens: dict[str, _Token] = attrs.field(factory=dict, init=False)

    def add(
        self,
        token: str,
        lifetime: float | _Default | None = DEFAULT_LIFETIME,
        *,
        read_only: bool = False,
    ) -> str:
        """Make ``token`` valid for ``lifetime`` seconds (None: forever)."""
        if lifetime is DEFAULT_LIFETIME:
            lifetime = self.default_lifetime
        expires_at = None if lifetime is None else self.clock() + lifetime
        self._tokens[token] = _Token(expires_at, read_only)
        return token

    def issue(
        self, lifetime: float | _Default | None = DEFAULT_LIFETIME, *, read_only: bool = False
    ) -> str:
        """Mint a fresh random token."""
        return self.add(self.prefix + secrets.token_hex(16), lifetime, read_only=read_only)

    def check(self, token: str | None) -> TokenState:
        entry = self._tokens.get(token) if token is not None else None
        if entry is None:
            return "unknown"
        if entry.expires_at is not None and self.clock() >= entry.expires_at:
            return "expired"
        return "ok"

    def is_read_only(self, token: str) -> bool:
        entry = self._tokens.get(token)
        return entry is not None and entry.read_only

    def expire(self, token: str) -> None:
        """Let ``token`` run out now (it then checks as "expired")."""
        if token in self._tokens:
            self._tokens[token].expires_at = self.clock()

    def expire_all(self) -> None:
        for token in self._tokens:
            self.expire(token)

    def __contains__(self, token: object) -> bool:
        return token in self._tokens

    def __len__(self) -> int:
        return len(self._tokens)


# --- OAuth refresh ------------------------------------------------------------------------

GrantCheck = Literal["ok", "unsupported_grant_type", "invalid_client", "invalid_grant"]


@attrs.frozen
class OAuthClient:
    """The one registered OAuth client an emulator accepts refresh requests from."""

    client_id: str = "test-client-id"
    client_secret: str = "test-client-secret"
    refresh_token: str = "test-refresh-token"

    def check(self, fields: Mapping[str, str]) -> GrantCheck:
        """Judge a ``grant_type=refresh_token`` request; vendors word the failures."""
        if fields.get("grant_type") != "refresh_token":
            return "unsupported_grant_type"
        if (
            fields.get("client_id") != self.client_id
            or fields.get("client_secret") != self.client_secret
        ):
            return "invalid_client"
        if fields.get("refresh_token") != self.refresh_token:
            return "invalid_grant"
        return "ok"


async def oauth_fields(request: web.Request) -> dict[str, str]:
    """The token request's fields: form body, falling back to the query string (Zoho's
    own examples send them in the URL)."""
    fields = {key: value for key, value in request.query.items()}
    if request.body_exists:
        form = await request.post()
        fields.update({key: value for key, value in form.items() if isinstance(value, str)})
    return fields


# --- request recording --------------------------------------------------------------------


@attrs.frozen
class RecordedRequest:
    """One request as the emulator received it.

    ``headers`` keeps the names as the client spelled them; use :meth:`header` for a
    case-insensitive lookup.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any | None
    text: str

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


async def _record(request: web.Request) -> RecordedRequest:
    text = (await request.text()) if request.body_exists else ""
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    return RecordedRequest(
        method=request.method,
        path=request.path,
        query={key: value for key, value in request.query.items()},
        headers={
            name.decode("utf-8", "surrogateescape"): value.decode("utf-8", "surrogateescape")
            for name, value in request.raw_headers
        },
        json=body,
        text=text,
    )


def recording_middleware(log: list[RecordedRequest]) -> Middleware:
    """Middleware appending every request (faulted ones too) to ``log``.

    It reads the body first; aiohttp caches it, so handlers can still read it.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        log.append(await _record(request))
        return await handler(request)

    return middleware
