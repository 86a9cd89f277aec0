"""``pages``: a paged listing as an async iterator that cannot loop for ever."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from ..errors import TransportError

__all__ = ["Pages", "pages"]

T = TypeVar("T")


class Pages(Generic[T]):
    """Pages 1, 2, ... from ``fetch(page)`` (its items, and whether more follow).

    Ends after a page that says no more follow, or an empty one. A page equal to the one
    before it while more are said to follow, or more than ``max_pages`` pages, is a
    ``TransportError``: a vendor that lies about paging must not hold a job for ever.

    An iterator object, not an async generator: it holds no suspended frame, so a caller
    that stops early (a look-up that found its group) leaves nothing to close. An
    unfinished async generator is closed later by the event loop's finalizer, in a task
    of its own, once per listing.
    """

    __slots__ = ("_backend", "_done", "_fetch", "_max_pages", "_number", "_previous", "_what")

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[tuple[list[T], bool]]],
        *,
        backend: str,
        max_pages: int,
        what: str = "listing",
    ) -> None:
        self._fetch = fetch
        self._backend = backend
        self._max_pages = max_pages
        self._what = what
        self._number = 0
        self._previous: list[T] | None = None
        self._done = False

    def __aiter__(self) -> Pages[T]:
        return self

    async def __anext__(self) -> list[T]:
        if self._done:
            raise StopAsyncIteration
        if self._number >= self._max_pages:
            self._done = True
            raise TransportError(
                f"the {self._what} has more than {self._max_pages} pages (max_pages); "
                "stopped reading it",
                backend=self._backend,
            )
        self._number += 1
        try:
            items, more = await self._fetch(self._number)
        except BaseException:
            self._done = True  # as a generator ends with its error
            raise
        if more and items and items == self._previous:
            self._done = True
            raise TransportError(
                f"the {self._what}'s page {self._number} repeats page {self._number - 1} and "
                "says more follow; stopped reading it",
                backend=self._backend,
            )
        self._done = not more or not items
        self._previous = items
        if not items:
            raise StopAsyncIteration
        return items


def pages(
    fetch: Callable[[int], Awaitable[tuple[list[T], bool]]],
    *,
    backend: str,
    max_pages: int,
    what: str = "listing",
) -> Pages[T]:
    """The listing ``fetch`` reads, a page at a time: see ``Pages``."""
    return Pages(fetch, backend=backend, max_pages=max_pages, what=what)
