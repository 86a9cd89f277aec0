"""``Transport``: sends a ``Request`` through auth, throttle, send, classify and retry policy."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

import attrs

from ..errors import BackendError, RateLimitedError, TransportError
from .auth import Auth, Credentials
from .classify import ErrorParser, Fail, Ok, Refresh, Retry, Verdict, classify
from .jsonbody import json_bytes
from .redact import Redactor
from .request import Reply, Request
from .retry import RetryPolicy
from .send import UNVERIFIED_CERTIFICATE, Answer, Sender
from .throttle import AdaptiveThrottle, SendOutcome, Throttle

__all__ = ["Transport", "TransportStats"]

log = logging.getLogger("unigroups.http")


@attrs.define
class TransportStats:
    """What the network did for one backend: sends, resends, 429s, token renewals."""

    requests: int = 0  # sends, resends included
    retries: int = 0  # resends after a failed send (a renewal's resend excluded)
    rate_limited: int = 0  # 429 answers
    refreshes: int = 0  # credentials renewed after a 401


class Transport:
    """The request pipeline of one backend instance.

    ``send(request)`` asks ``auth`` for credentials, takes a slot of ``throttle``, sends
    once through ``sender``, ``classify``-es the answer, and lets ``policy`` decide whether
    and when to send again: at most ``policy.attempts`` sends in all. Every wait (backoff,
    Retry-After, a paused or full throttle) is at most ``policy.max_wait``; past it the
    request ends at once with its error (``RateLimitedError`` for a 429 or the throttle).
    """

    def __init__(
        self,
        *,
        backend: str,
        base_url: str,
        parse_error: ErrorParser,
        sender: Sender | None = None,
        auth: Auth | None = None,
        policy: RetryPolicy | None = None,
        throttle: Throttle | None = None,
        secrets: Callable[[], Iterable[str]] = tuple,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.base_url = base_url.rstrip("/")
        self.parse_error = parse_error
        self.sender = sender or Sender(backend=backend)
        self.auth = auth
        self.policy = policy or RetryPolicy()
        self.throttle: Throttle = throttle or AdaptiveThrottle(10)
        self._secrets = secrets
        self.redact = Redactor(self._all_secrets)
        self.stats = TransportStats()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._wallclock = wallclock

    def _all_secrets(self) -> Iterable[str]:
        yield from self._secrets()
        if self.auth is not None:
            yield from self.auth.secrets()

    def __repr__(self) -> str:
        return f"Transport(backend={self.backend!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self.sender.aclose()

    async def request(self, method: str, path: str = "", **fields: Any) -> Reply:
        """``send(Request(method, path, **fields))``."""
        return await self.send(Request(method, path, **fields))

    async def send(self, request: Request) -> Reply:
        """The answer to ``request``, or the typed error that ended it."""
        renewed: Credentials | None = None  # what this request's last renewal gave
        attempt = 0
        while True:
            attempt += 1
            try:
                credentials = await self._credentials(request)
                verdict, answer = await self._send_once(request, credentials, attempt)
            except BackendError as error:  # a renewal that failed, a body over the cap
                self._end(error, attempt)
            if isinstance(verdict, Ok) and answer is not None:
                return Reply(answer.status, answer.headers, verdict.data, attempt)
            assert not isinstance(verdict, Ok)
            if isinstance(verdict, Fail) or attempt >= self.policy.attempts:
                self._end(verdict.error, attempt)
            if isinstance(verdict, Refresh):
                # Fresh credentials refused at once are the answer; credentials that expired
                # since (a long job, a short token lifetime) are renewed again.
                if credentials is None or self.auth is None or credentials == renewed:
                    self._end(verdict.error, attempt)
                renewed = await self.auth.refresh(credentials)
                if renewed is None:
                    self._end(verdict.error, attempt)
                self.stats.refreshes += 1
                log.info(
                    "%s: %s %s: credentials refused (%s); renewed, sending again",
                    self.backend,
                    request.method,
                    self._where(request),
                    verdict.error.code or verdict.error.status,
                )
                continue
            assert isinstance(verdict, Retry)
            if not self.policy.may_replay(request.replay_safe, verdict.acted):
                self._end(verdict.error, attempt)
            wait = self.policy.wait(attempt, verdict.after, self._rng)
            if wait is None:  # the vendor asks for longer than max_wait: give up now
                log.warning(
                    "%s: %s %s: the vendor asks for a wait of %g s, longer than max_wait "
                    "(%g s); giving up",
                    self.backend,
                    request.method,
                    self._where(request),
                    verdict.after,
                    self.policy.max_wait,
                )
                self._end(verdict.error, attempt)
            self.stats.retries += 1
            self._log_retry(request, verdict, wait, attempt)
            await self._sleep(wait)

    def _where(self, request: Request) -> str:
        """The request's path as a log line shows it: redacted, without the query."""
        return self.redact(urlsplit(request.url or self.base_url + request.path).path or "/")

    def _log_retry(self, request: Request, verdict: Retry, wait: float, attempt: int) -> None:
        error = verdict.error
        # A 429 is the vendor saying "slow down": worth a warning; other retries are routine.
        level = logging.WARNING if isinstance(error, RateLimitedError) else logging.INFO
        if not log.isEnabledFor(level):
            return
        why = "answered 429 (too many requests)" if level == logging.WARNING else str(error)
        log.log(
            level,
            "%s: %s %s: %s; waiting %.2f s, then send %d of %d",
            self.backend,
            request.method,
            self._where(request),
            why,
            wait,
            attempt + 1,
            self.policy.attempts,
        )

    async def _credentials(self, request: Request) -> Credentials | None:
        if not request.authenticate or self.auth is None:
            return None
        return await self.auth.credentials()

    async def _send_once(
        self, request: Request, credentials: Credentials | None, attempt: int
    ) -> tuple[Verdict, Answer | None]:
        """One send, through the throttle: the verdict, and the answer if one came."""
        base = credentials.base_url if credentials and credentials.base_url else self.base_url
        url = request.url or f"{base}{request.path}"
        headers = {"Accept": "application/json", **request.headers}
        if credentials is not None:
            headers.update(credentials.headers)
        data: bytes | Mapping[str, str] | None = request.form
        if request.body is not None:
            data = json_bytes(request.body)
            headers["Content-Type"] = "application/json; charset=utf-8"
        permit = await self.throttle.acquire(max_wait=self.policy.max_wait)
        if permit is None:
            self._end(self._held_back(), attempt)
        self.stats.requests += 1
        started = time.monotonic()
        outcome: SendOutcome = "failed"
        retry_after = None
        try:
            answer = await self.sender.send(
                request.method, url, headers=headers, query=request.query, data=data
            )
            verdict = self._verdict(answer)
            if isinstance(verdict, Ok):
                outcome = "ok"
            elif isinstance(answer, Answer) and answer.status == 429:
                outcome, retry_after = "rate_limited", getattr(verdict, "after", None)
                self.stats.rate_limited += 1
        finally:
            self.throttle.release(permit, outcome, retry_after)
        if log.isEnabledFor(logging.DEBUG):  # the path is worked out only when it is logged
            log.debug(
                "%s %s -> %s attempt=%d elapsed=%.3fs",
                request.method,
                self.redact(urlsplit(url).path),
                answer.status if isinstance(answer, Answer) else type(answer).__name__,
                attempt,
                time.monotonic() - started,
            )
        return verdict, answer if isinstance(answer, Answer) else None

    def _verdict(self, answer: Answer | TransportError) -> Verdict:
        if isinstance(answer, TransportError):
            answer.message = self.redact(answer.message)
            answer.args = (answer.message,)
            if answer.code == UNVERIFIED_CERTIFICATE:
                return Fail(answer)  # the same server gives the same certificate
            # Never arrived: safe to send again, whatever the method.
            return Retry(answer, acted=False if answer.request_sent is False else None)
        return classify(
            answer.status,
            answer.headers,
            answer.body,
            parse_error=self.parse_error,
            backend=self.backend,
            redact=self.redact,
            now=self._wallclock(),
        )

    def _held_back(self) -> RateLimitedError:
        paused = self.throttle.stats.paused_for
        if paused > 0:
            why = f"the vendor asked for a pause of {paused:g} s more"
        else:
            why = "no request slot came free"
        return RateLimitedError(
            f"{why}, longer than max_wait ({self.policy.max_wait:g} s); try again later or "
            "raise max_wait",
            backend=self.backend,
            retry_after=paused or None,
        )

    def _end(self, error: BackendError, attempt: int) -> NoReturn:
        if error.attempts is None:
            error.attempts = attempt
        raise error from None
