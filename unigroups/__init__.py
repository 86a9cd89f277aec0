"""unigroups: one vendor-neutral, async way to manage CRM user groups."""

from .errors import (
    AuthenticationError,
    BackendError,
    BackendImportError,
    ConfigurationError,
    DuplicateGroupError,
    InvalidDataError,
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

__version__ = "0.1.0"

__all__ = [
    "UNSET",
    "AuthenticationError",
    "BackendError",
    "BackendImportError",
    "Capabilities",
    "ConfigurationError",
    "DuplicateGroupError",
    "Group",
    "GroupBackend",
    "GroupChanges",
    "InvalidDataError",
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
    "backend_names",
    "open_backend",
    "register_backend",
]
