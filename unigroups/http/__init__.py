"""The request pipeline every backend shares, public for plugin authors.

``Request`` -> ``Auth`` (credentials) -> ``Throttle`` (a slot) -> ``Sender`` (one send) ->
``classify`` (what the answer means) -> ``RetryPolicy`` (again, when, or the error), all
driven by ``Transport``.
"""

from .auth import Auth, Credentials, HeaderAuth, RefreshingToken, TokenAuth, TokenGrant
from .classify import (
    ErrorParser,
    Fail,
    Ok,
    Refresh,
    Retry,
    VendorError,
    Verdict,
    classify,
    parse_retry_after,
)
from .config import USER_AGENT, ThrottleOption, TransportOptions
from .oauth import expires_in, refresh_token_grant
from .paging import pages
from .redact import Redactor
from .request import Reply, Request, path_segment
from .retry import RetryPolicy
from .send import Answer, Sender, Timeouts
from .throttle import (
    AdaptiveThrottle,
    FixedThrottle,
    Permit,
    SendOutcome,
    Throttle,
    ThrottleStats,
)
from .transport import Transport, TransportStats

__all__ = [
    "USER_AGENT",
    "AdaptiveThrottle",
    "Answer",
    "Auth",
    "Credentials",
    "ErrorParser",
    "Fail",
    "FixedThrottle",
    "HeaderAuth",
    "Ok",
    "Permit",
    "Redactor",
    "Refresh",
    "RefreshingToken",
    "Reply",
    "Request",
    "Retry",
    "RetryPolicy",
    "SendOutcome",
    "Sender",
    "Throttle",
    "ThrottleOption",
    "ThrottleStats",
    "Timeouts",
    "TokenAuth",
    "TokenGrant",
    "Transport",
    "TransportOptions",
    "TransportStats",
    "VendorError",
    "Verdict",
    "classify",
    "expires_in",
    "pages",
    "parse_retry_after",
    "path_segment",
    "refresh_token_grant",
]
