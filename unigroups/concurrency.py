"""``AdaptiveLimit``: how many operations a job keeps in flight, adjusted to the vendor (AIMD).

On a 429 the limit shrinks by a factor (at most once per round trip, since one overload
answers several calls at once) and starts wait out any Retry-After; every success lets it grow
back by a fraction of a slot, up to the configured limit. Growth is quick up to just under the
level the vendor last refused, and slow past it (``probe``): a vendor with a fixed cap is then
held near that cap with a 429 every couple of hundred calls, not every few dozen.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from types import TracebackType

__all__ = ["AdaptiveLimit"]


class AdaptiveLimit:
    def __init__(
        self,
        limit: int,
        *,
        adaptive: bool = True,
        decrease: float = 0.75,
        increase: float = 1.0,
        probe: float = 0.0625,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.max_limit = limit
        self.limit = float(limit)
        self.adaptive = adaptive
        self.active = 0
        self.rate_limited = 0
        self._decrease = decrease
        self._increase = increase
        self._probe = probe
        self._refused_at = float("inf")  # the limit when the vendor last answered 429
        self._clock = clock
        self._paused_until = 0.0
        self._last_decrease = float("-inf")
        self._round_trip = 0.05  # seconds; a moving average of how long an operation takes
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def __repr__(self) -> str:
        return f"AdaptiveLimit(limit={self.current}, active={self.active}, max={self.max_limit})"

    @property
    def current(self) -> int:
        return max(1, int(self.limit))

    def slot(self) -> _Slot:
        """``async with limit.slot():`` holds one of the ``current`` slots while the body runs.

        A plain object rather than an async generator: a batch job takes a slot for every
        call, and this is the cheapest way there is.
        """
        return _Slot(self)

    async def _acquire(self) -> None:
        while True:
            pause = self._paused_until - self._clock()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            if self.active < self.current:
                self.active += 1
                return
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, then cancelled: the turn passes to the next one
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise

    def _release(self, started: float) -> None:
        self._round_trip = 0.9 * self._round_trip + 0.1 * (self._clock() - started)
        self.active -= 1
        self._wake()

    def _wake(self) -> None:
        # Wake only as many waiters as may start now: waking all of them (a job may have
        # dozens waiting) costs CPU on every call and starts nothing more.
        free = self.current - self.active
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def succeeded(self) -> None:
        if self.adaptive and self.limit < self.max_limit:
            step = self._increase / self.limit
            if self.limit >= self._refused_at - 1:
                step *= self._probe  # near the level refused last time: probe it slowly
                if self.limit > self._refused_at + 1:
                    self._refused_at = float("inf")  # the vendor takes more now
            self.limit = min(self.max_limit, self.limit + step)

    def rate_limited_by_vendor(self, retry_after: float | None) -> None:
        """A 429 came back: shrink the limit, and hold new starts for ``retry_after``."""
        self.rate_limited += 1
        now = self._clock()
        if retry_after:
            self._paused_until = max(self._paused_until, now + retry_after)
        if not self.adaptive:
            return
        if now - self._last_decrease > self._round_trip:
            self._refused_at = self.limit
            self.limit = max(1.0, self.limit * self._decrease)
            self._last_decrease = now
        elif self.active > 1:
            # More refusals in the same round trip (a burst over a cap): the vendor took at most
            # what was in flight besides this call, which is a tighter bound than the factor.
            self._refused_at = min(self._refused_at, float(self.active))
            self.limit = max(1.0, min(self.limit, self.active - 1.0))


class _Slot:
    """One turn of an :class:`AdaptiveLimit`, as an async context manager."""

    __slots__ = ("_limit", "_started")

    def __init__(self, limit: AdaptiveLimit) -> None:
        self._limit = limit
        self._started = 0.0

    async def __aenter__(self) -> None:
        await self._limit._acquire()
        self._started = self._limit._clock()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._limit._release(self._started)
