"""A Redis URL's password kept out of what is shown: the URL as messages name it, and a
redactor for the text of Redis errors."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ..http.redact import Redactor

__all__ = ["password_redactor", "without_password"]


def without_password(url: str) -> str:
    """``url`` with its password (if any) shown as ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def password_redactor(url: str | None) -> Redactor:
    """Replaces ``url``'s password with ``***`` in text (nothing to hide without a URL)."""
    password = urlsplit(url).password if url else None
    return Redactor(lambda: (password,) if password else ())
