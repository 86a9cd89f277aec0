"""``Request`` and ``Reply``: what a backend asks for and what comes back, as plain values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import attrs

__all__ = ["IDEMPOTENT_METHODS", "Reply", "Request", "path_segment"]

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def _upper(method: str) -> str:
    return method.upper()


def _replay_safe_default(request: Request) -> bool:
    return request.method in IDEMPOTENT_METHODS


@attrs.frozen
class Request:
    """One call to a vendor. Nothing happens on creation; ``Transport.send`` sends it.

    ``path`` is joined to the base URL of the current credentials; ``url`` (absolute)
    replaces both. ``body`` is sent as JSON, ``form`` as a urlencoded form. ``replay_safe``
    says whether sending it twice is harmless when its first fate is unknown (a dropped
    connection, a 5xx): by default GET, PUT, DELETE and the like are, POST is not.
    """

    method: str = attrs.field(converter=_upper)
    path: str = ""
    query: Mapping[str, str] | None = None
    body: Any = None
    form: Mapping[str, str] | None = attrs.field(default=None, repr=False)
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    url: str | None = None
    authenticate: bool = True
    replay_safe: bool = attrs.field(default=attrs.Factory(_replay_safe_default, takes_self=True))


@attrs.frozen
class Reply:
    """A successful answer: status, headers, the parsed JSON (None for an empty body), and
    how many times the request was sent to get it."""

    status: int
    headers: Mapping[str, str]
    data: Any
    attempts: int = 1


def path_segment(value: str) -> str:
    """Quote one URL path segment; ids are validated before, this is the second fence."""
    return quote(value, safe="")
