"""unigroups: one vendor-neutral, async way to manage CRM user groups."""

from ._version import __version__
from .errors import (
    AuthenticationError,
    BackendError,
    BackendImportError,
    ConfigurationError,
    DecodingError,
    DuplicateGroupError,
    IncompleteWriteError,
    InvalidDataError,
    JournalError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnigroupsError,
    UnknownBackendError,
    UnsupportedOperationError,
    ValidationError,
)
from .models import UNSET, Capabilities, Group, GroupChanges, Member, MemberKind, Unset
from .protocol import GroupBackend
from .registry import backend_names, open_backend, register_backend

__all__ = [
    "UNSET",
    "AuthenticationError",
    "BackendError",
    "BackendImportError",
    "Capabilities",
    "ConfigurationError",
    "DecodingError",
    "DuplicateGroupError",
    "Group",
    "GroupBackend",
    "GroupChanges",
    "IncompleteWriteError",
    "InvalidDataError",
    "JournalError",
    "Member",
    "MemberKind",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "TransportError",
    "UnigroupsError",
    "UnknownBackendError",
    "Unset",
    "UnsupportedOperationError",
    "ValidationError",
    "__version__",
    "backend_names",
    "open_backend",
    "register_backend",
]
