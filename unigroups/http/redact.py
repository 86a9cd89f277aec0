"""``Redactor``: takes every known secret out of text and parsed JSON before anyone sees it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Redactor"]


class Redactor:
    """Replaces every secret ``sources()`` names with ``***``, in text or in parsed JSON.

    ``sources`` is asked each time: a refreshed token is a new secret.
    """

    def __init__(self, sources: Callable[[], Iterable[str]] = tuple) -> None:
        self._sources = sources

    def __call__(self, text: str) -> str:
        for secret in self._sources():
            if secret and len(secret) >= 4:  # a 1-3 character "secret" would shred the text
                text = text.replace(secret, "***")
        return text

    def value(self, data: Any) -> Any:
        """``data`` (parsed JSON) with secrets removed from every string in it, keys too."""
        if isinstance(data, str):
            return self(data)
        if isinstance(data, dict):
            return {self(str(k)): self.value(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.value(v) for v in data]
        return data

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self(text)
