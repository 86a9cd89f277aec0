"""``TransportOptions``: the options every HTTP backend takes, and the pipeline parts they build."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

import aiohttp
import attrs

from .._version import __version__
from ..errors import ConfigurationError
from ..options import flag, seconds, whole
from .auth import Auth
from .classify import ErrorParser
from .retry import RetryPolicy
from .send import DEFAULT_MAX_BODY, Sender, Timeouts, check_verifying
from .throttle import AdaptiveThrottle, FixedThrottle, Throttle
from .transport import Transport

__all__ = ["USER_AGENT", "ThrottleOption", "TransportOptions"]

USER_AGENT = f"unigroups/{__version__}"

#: ``"adaptive"`` (AIMD from 429s), ``"fixed"`` (``max_concurrency`` always), or a Throttle.
ThrottleOption: TypeAlias = "str | Throttle"


def _throttle(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value in ("adaptive", "fixed") or isinstance(value, Throttle):
        return
    raise ConfigurationError(
        f"throttle must be 'adaptive', 'fixed' or a Throttle, not {value!r}", option="throttle"
    )


def _session(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, aiohttp.ClientSession):
        raise ConfigurationError(
            f"session must be an aiohttp.ClientSession, not {type(value).__name__}",
            option="session",
        )


def _ssl_context(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, ssl.SSLContext):
        raise ConfigurationError("ssl_context must be an ssl.SSLContext", option="ssl_context")
    check_verifying(value)


@attrs.frozen
class TransportOptions:
    """The options every backend built on ``Transport`` takes (a base for config classes)."""

    session: aiohttp.ClientSession | None = attrs.field(
        default=None,
        repr=False,
        validator=_session,
    )
    max_concurrency: int = attrs.field(default=10, validator=whole(1))  # requests in flight
    throttle: ThrottleOption = attrs.field(default="adaptive", validator=_throttle)
    timeout: float = attrs.field(default=30.0, validator=seconds())  # seconds a send, in all
    connect_timeout: float = attrs.field(default=10.0, validator=seconds())
    read_timeout: float | None = attrs.field(default=None, validator=seconds(optional=True))
    max_attempts: int = attrs.field(default=6, validator=whole(1))  # sends a request, in all
    max_wait: float = attrs.field(default=120.0, validator=seconds(zero=True))
    max_body: int = attrs.field(default=DEFAULT_MAX_BODY, validator=whole(1))  # bytes
    max_pages: int = attrs.field(default=10_000, validator=whole(1))  # pages a listing
    trust_env: bool = attrs.field(default=False, validator=flag)  # proxies from the env
    ssl_context: ssl.SSLContext | None = attrs.field(
        default=None, repr=False, validator=_ssl_context
    )

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.max_attempts, max_wait=self.max_wait)

    def make_throttle(self) -> Throttle:
        if self.throttle == "adaptive":
            return AdaptiveThrottle(self.max_concurrency)
        if self.throttle == "fixed":
            return FixedThrottle(self.max_concurrency)
        assert not isinstance(self.throttle, str)
        return self.throttle

    def make_sender(self, backend: str) -> Sender:
        return Sender(
            backend=backend,
            session=self.session,
            timeouts=Timeouts(
                connect=min(self.connect_timeout, self.timeout),
                read=self.read_timeout,
                total=self.timeout,
            ),
            max_body=self.max_body,
            trust_env=self.trust_env,
            headers={"User-Agent": USER_AGENT},
            connections=self.max_concurrency * 2,
            ssl_context=self.ssl_context,
        )

    def make_transport(
        self,
        *,
        backend: str,
        base_url: str,
        parse_error: ErrorParser,
        auth: Callable[[Sender], Auth | None],
        secrets: Callable[[], Iterable[str]] = tuple,
    ) -> Transport:
        """The pipeline these options describe; ``auth`` is built on its send step (a token
        renewal sends through it, never through the pipeline it serves)."""
        sender = self.make_sender(backend)
        return Transport(
            backend=backend,
            base_url=base_url,
            parse_error=parse_error,
            sender=sender,
            auth=auth(sender),
            policy=self.retry_policy(),
            throttle=self.make_throttle(),
            secrets=secrets,
        )
