"""SuperOffice user groups: ``open_backend("superoffice", ...)``."""

from .backend import SuperOfficeBackend
from .config import ENVIRONMENTS, Locale, SuperOfficeConfig
from .wire import Rights, rights_of

__all__ = [
    "ENVIRONMENTS",
    "Locale",
    "Rights",
    "SuperOfficeBackend",
    "SuperOfficeConfig",
    "rights_of",
]
