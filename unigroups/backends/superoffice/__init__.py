"""SuperOffice user groups: ``open_backend("superoffice", ...)``."""

from .backend import MemberKindError, SuperOfficeBackend
from .config import ENVIRONMENTS, Locale, SuperOfficeConfig
from .wire import Rights, rights_of

__all__ = [
    "ENVIRONMENTS",
    "Locale",
    "MemberKindError",
    "Rights",
    "SuperOfficeBackend",
    "SuperOfficeConfig",
    "rights_of",
]
