"""``pages``: a paged listing as an async iterator that cannot loop for ever."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from ..errors import TransportError

__all__ = ["pages"]

T = TypeVar("T")


async def pages(
    fetch: Callable[[int], Awaitable[tuple[list[T], bool]]],
    *,
    backend: str,
    max_pages: int,
    what: str = "listing",
) -> AsyncIterator[list[T]]:
    """Pages 1, 2, ... from ``fetch(page)`` (its items, and whether more follow).

    Ends after a page that says no more follow, or an empty one. A page equal to the one
    before it while more are said to follow, or more than ``max_pages`` pages, is a
    ``TransportError``: a vendor that lies about paging must not hold a job for ever.
    """
    previous: list[Any] | None = None
    for number in range(1, max_pages + 1):
        items, more = await fetch(number)
        if more and items and items == previous:
            raise TransportError(
                f"the {what}'s page {number} repeats page {number - 1} and says more "
                "follow; stopped reading it",
                backend=backend,
            )
        if items:
            yield items
        if not more or not items:
            return
        previous = items
    raise TransportError(
        f"the {what} has more than {max_pages} pages (max_pages); stopped reading it",
        backend=backend,
    )
