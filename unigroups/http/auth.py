"""The auth step: headers and base URL from the current credentials, and their renewal.

An ``Auth`` never holds the transport: a renewal that needs the network (an OAuth token
endpoint) is given the send step, not the pipeline it serves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol, runtime_checkable

import attrs

from ..errors import TransportError

__all__ = ["Auth", "Credentials", "HeaderAuth", "RefreshingToken", "TokenAuth", "TokenGrant"]

log = logging.getLogger("unigroups.http.auth")


@attrs.frozen
class Credentials:
    """What one request carries: its auth headers, and the base URL they are good for
    (None: the backend's configured one; Zoho names its API domain in each grant)."""

    headers: Mapping[str, str] = attrs.field(repr=False)
    base_url: str | None = None


@runtime_checkable
class Auth(Protocol):
    """How a backend authenticates its requests."""

    async def credentials(self) -> Credentials:
        """The credentials to send now (renewed first when known to be expired)."""
        ...

    async def refresh(self, stale: Credentials) -> Credentials | None:
        """New credentials after ``stale`` got a 401; None when they cannot be renewed."""
        ...

    def secrets(self) -> Iterable[str]:
        """Every secret value a log line or error must never show."""
        ...


class HeaderAuth:
    """Fixed credentials (Basic, a ticket, an access token that is not renewed)."""

    def __init__(self, headers: Mapping[str, str], secrets: Iterable[str]) -> None:
        self._credentials = Credentials(dict(headers))
        self._secrets = tuple(secrets)

    def __repr__(self) -> str:
        return f"HeaderAuth(headers={sorted(self._credentials.headers)})"  # names, not values

    async def credentials(self) -> Credentials:
        return self._credentials

    async def refresh(self, stale: Credentials) -> Credentials | None:
        return None

    def secrets(self) -> Iterable[str]:
        return self._secrets


@attrs.frozen
class TokenGrant:
    """An access token, how long it lives (None: until a 401), and the base URL it is for."""

    access_token: str = attrs.field(repr=False)
    expires_in: float | None = None
    base_url: str | None = None


class RefreshingToken:
    """An access token renewed by ``fetch``: one renewal at a time for every caller.

    Callers that find the token stale while a renewal runs wait for that renewal and share
    its result, its failure included: the token endpoint is asked once, not once per
    waiter. A renewal that takes longer than ``timeout`` fails every waiter with a
    ``TransportError``.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[TokenGrant]],
        *,
        token: str | None = None,
        expires_in: float | None = None,
        base_url: str | None = None,
        skew: float = 60.0,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._skew = skew
        self._timeout = timeout
        self._grant = None if token is None else TokenGrant(token, expires_in, base_url)
        self._expires_at = self._deadline(expires_in)
        self._renewal: asyncio.Future[TokenGrant] | None = None
        self.renewals = 0
        # Every token this process has held, so that redaction also hides superseded ones.
        self.issued: list[str] = [token] if token else []

    def __repr__(self) -> str:
        return f"RefreshingToken(renewals={self.renewals})"

    def _deadline(self, expires_in: float | None) -> float | None:
        # Renew a little early (a quarter of a short lifetime), so a call never carries a
        # token that dies on its way.
        if expires_in is None:
            return None
        return self._clock() + expires_in - min(self._skew, expires_in / 4)

    def _fresh(self) -> bool:
        if self._grant is None:
            return False
        return self._expires_at is None or self._clock() < self._expires_at

    async def current(self) -> TokenGrant:
        """A grant not known to be expired, renewing it first if it is."""
        if self._fresh():
            assert self._grant is not None
            return self._grant
        return await self.renew(None if self._grant is None else self._grant.access_token)

    async def renew(self, stale: str | None) -> TokenGrant:
        """Replace the token ``stale``; a caller that arrives during a renewal shares it."""
        grant = self._grant
        if grant is not None and grant.access_token != stale and self._fresh():
            return grant  # renewed by another caller since ``stale`` was handed out
        if self._renewal is None:
            self._renewal = asyncio.ensure_future(self._run_renewal())
            # Marked as seen even when every waiter gave up before it ended.
            self._renewal.add_done_callback(lambda done: done.cancelled() or done.exception())
        # Shielded: one waiter giving up must not cancel the renewal the others wait for.
        return await asyncio.shield(self._renewal)

    async def _run_renewal(self) -> TokenGrant:
        log.info("renewing the access token (renewal %d)", self.renewals + 1)
        try:
            async with asyncio.timeout(self._timeout):
                grant = await self._fetch()
        except TimeoutError:
            log.warning("the token endpoint did not answer within %g s", self._timeout)
            raise TransportError(
                f"the token endpoint did not answer within {self._timeout:g} s; the access "
                "token could not be renewed",
                request_sent=True,
            ) from None
        finally:
            self._renewal = None
        self.renewals += 1
        self._grant = grant
        self.issued = [*self.issued[-15:], grant.access_token]
        self._expires_at = self._deadline(grant.expires_in)
        lifetime = "until refused" if grant.expires_in is None else f"{grant.expires_in:g} s"
        log.info("access token renewed; good for %s", lifetime)
        return grant


class TokenAuth:
    """``Authorization: <scheme> <token>`` with a token that is renewed on 401.

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

    def _credentials(self, grant: TokenGrant) -> Credentials:
        headers = {"Authorization": f"{self._scheme} {grant.access_token}", **self._extra}
        return Credentials(headers, grant.base_url)

    async def credentials(self) -> Credentials:
        return self._credentials(await self.token.current())

    async def refresh(self, stale: Credentials) -> Credentials | None:
        used = stale.headers.get("Authorization", "").removeprefix(f"{self._scheme} ")
        return self._credentials(await self.token.renew(used or None))

    def secrets(self) -> Iterable[str]:
        return (*self._secrets, *self._extra.values(), *self.token.issued)
