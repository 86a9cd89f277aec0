"""Credentials for the transport: fixed headers, a caller's token provider, refreshed OAuth.

The vendor-specific parts (which endpoint, which form fields, how the answer reads) stay in
each backend; what is shared is the single-flight refresh, so that many concurrent calls that
find the token stale cause one refresh, not one each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .errors import (
    AuthenticationError,
    BackendError,
    RateLimitedError,
    ServerError,
    TransportError,
)

if TYPE_CHECKING:
    from .http import Transport

__all__ = ["HeaderAuth", "RefreshingToken", "TokenAuth", "TokenGrant", "refresh_token_grant"]


class HeaderAuth:
    """Fixed credentials (Basic, a ticket, an access token that is not renewed)."""

    def __init__(self, headers: Mapping[str, str], secrets: Iterable[str]) -> None:
        self._headers = dict(headers)
        self._secrets = tuple(secrets)

    def __repr__(self) -> str:
        return f"HeaderAuth(headers={sorted(self._headers)})"  # names only, never values

    async def headers(self) -> Mapping[str, str]:
        return self._headers

    async def refresh(self, stale: Mapping[str, str]) -> bool:
        return False

    def secrets(self) -> Iterable[str]:
        return self._secrets


@attrs.frozen
class TokenGrant:
    """A new access token and how long it lives (None: until the vendor says 401)."""

    access_token: str = attrs.field(repr=False)
    expires_in: float | None = None


class RefreshingToken:
    """An access token renewed by ``fetch``, one renewal at a time for all callers."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[TokenGrant]],
        *,
        token: str | None = None,
        expires_in: float | None = None,
        skew: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._skew = skew
        self._token = token
        self._expires_at = self._deadline(expires_in)
        self._lock = asyncio.Lock()
        self.renewals = 0
        # Every token this process has held, so that redaction also hides superseded ones.
        self.issued: list[str] = [token] if token else []

    def __repr__(self) -> str:
        return f"RefreshingToken(renewals={self.renewals})"

    def _deadline(self, expires_in: float | None) -> float | None:
        # Renew a little early (a quarter of a short lifetime), so a call never carries a token
        # that dies on its way.
        if expires_in is None:
            return None
        return self._clock() + expires_in - min(self._skew, expires_in / 4)

    def _fresh(self) -> bool:
        if self._token is None:
            return False
        return self._expires_at is None or self._clock() < self._expires_at

    async def current(self) -> str:
        """A token that is not known to be expired, renewing it first if it is."""
        if self._fresh():
            assert self._token is not None
            return self._token
        return await self.renew(self._token)

    async def renew(self, stale: str | None) -> str:
        """Replace ``stale``; callers that arrive while a renewal runs share its result."""
        async with self._lock:
            if self._token is not None and self._token != stale and self._fresh():
                return self._token  # another caller renewed it while we waited
            grant = await self._fetch()
            self.renewals += 1
            self._token = grant.access_token
            self.issued = [*self.issued[-15:], grant.access_token]
            self._expires_at = self._deadline(grant.expires_in)
            return self._token

    @property
    def token(self) -> str | None:
        return self._token


class TokenAuth:
    """``Authorization: <scheme> <token>`` with a token that can be renewed on 401.

    ``source`` is a RefreshingToken, or a caller's async callable that returns a token (asked
    again after a 401).
    """

    def __init__(
        self,
        scheme: str,
        source: RefreshingToken | Callable[[], Awaitable[str]],
        *,
        extra_headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self._scheme = scheme
        self._extra = dict(extra_headers or {})
        self._secrets = tuple(secrets)
        if isinstance(source, RefreshingToken):
            self.token = source
        else:
            provider = source

            async def ask() -> TokenGrant:
                return TokenGrant(await provider())

            self.token = RefreshingToken(ask)

    def __repr__(self) -> str:
        return f"TokenAuth(scheme={self._scheme!r})"

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"{self._scheme} {await self.token.current()}", **self._extra}

    async def refresh(self, stale: Mapping[str, str]) -> bool:
        used = stale.get("Authorization", "").removeprefix(f"{self._scheme} ")
        await self.token.renew(used or None)
        return True

    def secrets(self) -> Iterable[str]:
        return (*self._secrets, *self._extra.values(), *self.token.issued)


async def refresh_token_grant(
    transport: Transport,
    url: str,
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str,
) -> Any:
    """POST the OAuth refresh-token grant to ``url``; the answer's JSON, or AuthenticationError.

    The vendor's answer is returned as is: its field names are the backend's to read.
    """
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
    }
    try:
        reply = await transport.request("POST", url=url, form=form, authenticate=False)
    except (TransportError, ServerError, RateLimitedError):
        raise  # a passing fault, not a refusal: the caller may try again
    except BackendError as exc:
        code = exc.code or (exc.raw.get("error") if isinstance(exc.raw, dict) else None)
        raise AuthenticationError(
            f"the token endpoint refused to renew the access token: {exc.message}; check "
            "client_id, client_secret and refresh_token",
            backend=transport.backend,
            status=exc.status,
            code=code if isinstance(code, str) else None,
        ) from None
    data = reply.data
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        error = data.get("error") if isinstance(data, dict) else None
        raise AuthenticationError(
            f"the token endpoint gave no access token ({error or 'unexpected answer'}); "
            "check client_id, client_secret and refresh_token",
            backend=transport.backend,
            code=error if isinstance(error, str) else None,
        )
    return data


def expires_in(data: Mapping[str, Any], *keys: str) -> float | None:
    """The first of ``keys`` in a token answer that holds a number of seconds."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None
