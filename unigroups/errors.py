"""The exception tree every caller of unigroups sees.

Messages say what happened and what to do. No error ever carries a secret: the transport
redacts vendor bodies before they reach ``raw``, and nothing here formats credentials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AuthenticationError",
    "BackendError",
    "BackendImportError",
    "ConfigurationError",
    "DecodingError",
    "DuplicateGroupError",
    "IncompleteWriteError",
    "InvalidDataError",
    "JournalError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "TransportError",
    "UnigroupsError",
    "UnknownBackendError",
    "UnsupportedOperationError",
    "ValidationError",
]


class UnigroupsError(Exception):
    """Base of every error raised by unigroups."""


class ConfigurationError(UnigroupsError):
    """A backend name or option is wrong; raised before anything is sent."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class UnknownBackendError(ConfigurationError):
    """No backend is registered under the name asked for."""

    def __init__(self, name: str, known: Sequence[str], close: Sequence[str]) -> None:
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(
            f"no backend named {name!r}; known backends: {', '.join(known) or '(none)'}.{hint}"
        )
        self.name = name
        self.known = tuple(known)
        self.close_matches = tuple(close)


class BackendImportError(ConfigurationError):
    """A registered backend could not be imported; ``__cause__`` holds the reason."""

    def __init__(self, name: str, target: str, cause: BaseException) -> None:
        package = target.split(":", 1)[0].split(".", 1)[0]
        super().__init__(
            f"backend {name!r} ({target}) failed to import: {type(cause).__name__}: {cause}. "
            f"Is the package that provides it installed? Try: pip install {package}"
        )
        self.name = name
        self.target = target
        self.cause = cause


class JournalError(UnigroupsError):
    """A batch journal cannot be opened, locked, trusted or written; the job ends at once.

    ``path`` is the journal's file. Nothing more is sent once it is raised; operations in
    flight stay ``started`` in the journal and are looked up by the next run.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ValidationError(UnigroupsError, ValueError):
    """Input is invalid for the model or the backend; raised before any request."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class UnsupportedOperationError(UnigroupsError):
    """The backend's capabilities rule the operation out; raised before any request."""

    def __init__(self, message: str, *, capability: str | None = None) -> None:
        super().__init__(message)
        self.capability = capability


class BackendError(UnigroupsError):
    """The vendor or the network said no.

    ``raw`` is the vendor's answer as received (already redacted), ``details`` the vendor's
    structured details, ``code`` the vendor's error code (``DUPLICATE_DATA``, ``409``...).
    """

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        status: int | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        raw: Any = None,
    ) -> None:
        super().__init__(message)
        self.backend = backend
        self.status = status
        self.code = code
        self.message = message
        self.details: Mapping[str, Any] = dict(details or {})
        self.raw = raw
        # How many times the request was sent before this ended it (set by the transport).
        self.attempts: int | None = None

    def __str__(self) -> str:
        head = [part for part in (self.backend, self.code) if part]
        if self.status is not None:
            head.append(f"HTTP {self.status}")
        text = " ".join(self.message.split())  # one line, whatever the vendor sent
        if self.details:
            shown = ", ".join(f"{k}={v!r}" for k, v in self.details.items())
            text = f"{text} ({shown})"
        return f"[{' '.join(head)}] {text}" if head else text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(backend={self.backend!r}, status={self.status!r}, "
            f"code={self.code!r}, message={self.message!r})"
        )


class AuthenticationError(BackendError):
    """401, INVALID_TOKEN, AUTHENTICATION_FAILED: the credentials were refused."""


class PermissionDeniedError(BackendError):
    """403, NO_PERMISSION, OAUTH_SCOPE_MISMATCH: authenticated, but not allowed."""


class NotFoundError(BackendError):
    """The group (or path) does not exist."""


class DuplicateGroupError(BackendError):
    """A group with that name exists already (names are unique per vendor)."""


class InvalidDataError(BackendError):
    """The vendor rejected the request's data (INVALID_DATA, MANDATORY_NOT_FOUND, other 400s)."""


class IncompleteWriteError(BackendError):
    """The group exists, but not every member change of the call was written.

    ``group_id`` is the group; ``__cause__`` the error that stopped the rest. Running the
    same operation again (a batch re-run) completes it without creating a second group.
    """

    def __init__(self, message: str, *, group_id: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.group_id = group_id


class RateLimitedError(BackendError):
    """429: too many requests. ``retry_after`` is the wait the vendor asked for, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(BackendError):
    """5xx: the vendor failed."""


class TransportError(BackendError):
    """Connection reset, timeout, or an answer that is not what the vendor sends.

    ``request_sent`` is False when the request provably never reached the vendor, True when it
    may have (its fate is unknown: a create may have happened), None when not a network fault.
    """

    def __init__(self, message: str, *, request_sent: bool | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.request_sent = request_sent


class DecodingError(TransportError):
    """An answer that is not what the vendor sends: HTML, not JSON, too large, the wrong shape.

    The vendor answered, so ``request_sent`` is True: for a write, its fate is unknown.
    """

    def __init__(self, message: str, *, request_sent: bool | None = True, **kw: Any) -> None:
        super().__init__(message, request_sent=request_sent, **kw)


# -- from a vendor's answer to an error of the tree -------------------------------------------

_BY_STATUS: dict[int, type[BackendError]] = {
    400: InvalidDataError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: DuplicateGroupError,
    422: InvalidDataError,
    429: RateLimitedError,
}


def error_class_for_status(status: int | None) -> type[BackendError]:
    """The error class an HTTP status means when the vendor's code says nothing finer."""
    if status is None:
        return TransportError
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, InvalidDataError if 400 <= status < 500 else TransportError)


def build_error(
    kind: type[BackendError] | None,
    message: str,
    *,
    backend: str | None,
    status: int | None,
    code: str | None = None,
    details: Mapping[str, Any] | None = None,
    raw: Any = None,
    retry_after: float | None = None,
) -> BackendError:
    """Make the error for a refused request; ``kind`` None means "decide by status"."""
    cls = kind or error_class_for_status(status)
    common: dict[str, Any] = {
        "backend": backend,
        "status": status,
        "code": code,
        "details": details,
        "raw": raw,
    }
    if issubclass(cls, RateLimitedError):
        return cls(message, retry_after=retry_after, **common)
    return cls(message, **common)
