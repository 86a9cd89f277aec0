"""Zoho CRM user groups: ``open_backend("zoho", ...)``."""

from .backend import ZohoBackend
from .config import DATA_CENTRES, ZohoConfig

__all__ = ["DATA_CENTRES", "ZohoBackend", "ZohoConfig"]
