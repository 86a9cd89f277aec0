"""``Sender``: the one step that does I/O. Bytes out, status, headers and a capped body back."""

from __future__ import annotations

import functools
import os
import socket
import ssl
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

import aiohttp
import attrs

from ..errors import ConfigurationError, DecodingError, TransportError
from ..options import seconds

__all__ = ["DEFAULT_MAX_BODY", "UNVERIFIED_CERTIFICATE", "Answer", "Sender", "Timeouts"]

DEFAULT_MAX_BODY: Final = 32 * 1024 * 1024
#: The code of a TransportError for a server whose TLS certificate did not verify: final.
UNVERIFIED_CERTIFICATE: Final = "TLS_CERTIFICATE"
# The methods aiohttp resends by itself when a kept-alive connection drops (RFC 9110's
# idempotent methods): only these need the guard; a POST is never resent by aiohttp.
_RESENT_BY_AIOHTTP: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_CHUNK: Final = 256 * 1024


@attrs.frozen
class Timeouts:
    """Seconds for one send: to connect, between two reads of the answer, in all."""

    connect: float | None = attrs.field(default=10.0, validator=seconds(optional=True))
    read: float | None = attrs.field(default=None, validator=seconds(optional=True))
    total: float = attrs.field(default=30.0, validator=seconds())

    def client_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=self.total, sock_connect=self.connect, sock_read=self.read
        )


@attrs.frozen
class Answer:
    """What came back from one send, body read whole (and no larger than the cap)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Sender:
    """Sends one HTTP request with aiohttp and reads its answer, nothing more.

    Owns its ``ClientSession`` unless one is handed in (a borrowed session is never closed).
    Redirects are never followed; proxies come from the environment only with ``trust_env``;
    every request carries a verifying TLS context (``ssl_context``, or the system's
    default), so a session whose connector turns verification off cannot turn it off here;
    and aiohttp's own silent resend of an idempotent request on a dropped pooled connection
    is turned off: the retry policy must see every send.
    """

    def __init__(
        self,
        *,
        backend: str,
        session: aiohttp.ClientSession | None = None,
        timeouts: Timeouts | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        trust_env: bool = False,
        headers: Mapping[str, str] | None = None,
        connections: int = 20,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.backend = backend
        self.timeouts = timeouts or Timeouts()
        self.max_body = max_body
        self.trust_env = trust_env
        self._headers = dict(headers or {})
        self._connections = connections
        self._session = session
        self._owns_session = session is None
        self._client_timeout = self.timeouts.client_timeout()
        self._ssl = check_verifying(ssl_context) if ssl_context else _system_context()

    def __repr__(self) -> str:
        return f"Sender(backend={self.backend!r}, timeouts={self.timeouts!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                trust_env=self.trust_env,
            )
            self._owns_session = True
        return self._session

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None = None,
        data: bytes | Mapping[str, str] | None = None,
    ) -> Answer | TransportError:
        """Send once. A network fault is returned (not raised) as a ``TransportError`` whose
        ``request_sent`` says whether the vendor may have seen it; a body over the cap is
        raised as a ``DecodingError``."""
        try:
            async with self.session.request(
                method,
                url,
                params=query,
                data=aiohttp.FormData(dict(data)) if isinstance(data, Mapping) else data,
                headers={**self._headers, **headers},
                allow_redirects=False,
                timeout=self._client_timeout,
                ssl=self._ssl,
                middlewares=(_send_once(),) if method in _RESENT_BY_AIOHTTP else (),
            ) as response:
                body = await self._read(response, method, url)
                return Answer(response.status, response.headers, body)
        except aiohttp.ClientConnectorCertificateError as exc:
            fault = self._fault(method, url, _connect_reason(exc), request_sent=False)
            fault.code = UNVERIFIED_CERTIFICATE  # sending again cannot change the certificate
            return fault
        except aiohttp.ClientConnectorError as exc:
            return self._fault(method, url, _connect_reason(exc), request_sent=False)
        except aiohttp.ConnectionTimeoutError:
            return self._fault(
                method, url, f"no connection within {self.timeouts.connect:g} s", False
            )
        except aiohttp.SocketTimeoutError:
            return self._fault(
                method, url, f"no data for {self.timeouts.read:g} s while reading the answer", True
            )
        except TimeoutError:
            return self._fault(
                method, url, f"no complete answer within {self.timeouts.total:g} s", True
            )
        except aiohttp.ClientError as exc:
            return self._fault(method, url, _client_reason(exc), request_sent=True)

    async def _read(self, response: aiohttp.ClientResponse, method: str, url: str) -> bytes:
        length = response.content_length
        if length is not None and length > self.max_body:
            raise self._too_large(method, url, response.status, f"{length} bytes announced")
        if length is not None:
            return await response.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > self.max_body:
                raise self._too_large(method, url, response.status, "more sent")
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, method: str, url: str, status: int, what: str) -> DecodingError:
        return DecodingError(
            f"{method} {urlsplit(url).path}: the answer is larger than max_body "
            f"({self.max_body} bytes; {what}); it was not read",
            backend=self.backend,
            status=status,
        )

    def _fault(self, method: str, url: str, reason: str, request_sent: bool) -> TransportError:
        parts = urlsplit(url)
        fate = (
            "the vendor may or may not have acted on it"
            if request_sent
            else "it never reached the vendor"
        )
        where = "" if f"{parts.hostname}:" in reason else f" to {parts.hostname}"
        return TransportError(
            f"{method} {parts.path}{where}: {reason} ({fate})",
            backend=self.backend,
            request_sent=request_sent,
        )


def _send_once() -> aiohttp.ClientMiddlewareType:
    """A middleware that lets one request through once: aiohttp resends an idempotent
    request by itself when a pooled connection drops; the second time, the drop is reported
    as it happened instead, and the retry policy decides."""
    sent = False

    async def once(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        nonlocal sent
        if sent:
            raise aiohttp.ServerDisconnectedError("the server closed a kept-alive connection")
        sent = True
        return await handler(request)

    return once


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        why = f"its TLS certificate could not be verified ({exc.certificate_error})"
    else:
        error = exc.os_error
        if isinstance(error, socket.gaierror):  # its errno is the resolver's, not the OS's
            why = f"the host name does not resolve ({error.strerror or error})"
        else:
            why = os.strerror(error.errno) if error.errno else str(error) or type(error).__name__
    return f"cannot connect to {exc.host}:{exc.port}: {why}"


def _client_reason(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection before answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer broke off before its end"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_verifying(context: ssl.SSLContext) -> ssl.SSLContext:
    """``context`` if it verifies certificates and host names, else ConfigurationError."""
    if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
        raise ConfigurationError(
            "ssl_context turns TLS certificate or host name verification off; unigroups "
            "refuses to send credentials over it",
            option="ssl_context",
        )
    return context


@functools.cache
def _system_context() -> ssl.SSLContext:
    # One context for every request: aiohttp pools connections by it.
    return ssl.create_default_context()
