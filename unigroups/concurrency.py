"""``AdaptiveLimit``: how many operations a job keeps in flight, adjusted to the vendor (AIMD).

On a 429 the limit shrinks by a factor (at most once per round trip, since one overload
answers several calls at once) and starts wait out any Retry-After; every success lets it grow
back by a fraction of a slot, up to the configured limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

__all__ = ["AdaptiveLimit"]


class AdaptiveLimit:
    def __init__(
        self,
        limit: int,
        *,
        adaptive: bool = True,
        decrease: float = 0.7,
        increase: float = 0.5,
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
        self._clock = clock
        self._paused_until = 0.0
        self._last_decrease = float("-inf")
        self._round_trip = 0.05  # seconds; a moving average of how long an operation takes
        self._changed = asyncio.Condition()

    def __repr__(self) -> str:
        return f"AdaptiveLimit(limit={self.current}, active={self.active}, max={self.max_limit})"

    @property
    def current(self) -> int:
        return max(1, int(self.limit))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the ``current`` slots while the body runs."""
        async with self._changed:
            while True:
                pause = self._paused_until - self._clock()
                if pause > 0:
                    self._changed.release()
                    try:
                        await asyncio.sleep(pause)
                    finally:
                        await self._changed.acquire()
                    continue
                if self.active < self.current:
                    break
                await self._changed.wait()
            self.active += 1
        started = self._clock()
        try:
            yield
        finally:
            self._round_trip = 0.9 * self._round_trip + 0.1 * (self._clock() - started)
            async with self._changed:
                self.active -= 1
                self._changed.notify_all()

    def succeeded(self) -> None:
        if self.adaptive and self.limit < self.max_limit:
            self.limit = min(self.max_limit, self.limit + self._increase / self.limit)

    def rate_limited_by_vendor(self, retry_after: float | None) -> None:
        """A 429 came back: shrink the limit, and hold new starts for ``retry_after``."""
        self.rate_limited += 1
        now = self._clock()
        if retry_after:
            self._paused_until = max(self._paused_until, now + retry_after)
        if self.adaptive and now - self._last_decrease > self._round_trip:
            self.limit = max(1.0, self.limit * self._decrease)
            self._last_decrease = now
