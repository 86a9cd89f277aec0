"""Throttles: how many requests a backend keeps in flight, fixed or learnt from 429s (AIMD).

A throttle is one object per backend instance; every request of that backend, from any
caller (a batch job, a mirror, a single call), takes one of its slots. ``Throttle`` is the
protocol a limiter shared by many processes can implement; ``FixedThrottle`` and
``AdaptiveThrottle`` are the in-process ones.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import attrs

__all__ = [
    "AdaptiveThrottle",
    "FixedThrottle",
    "Permit",
    "SendOutcome",
    "Throttle",
    "ThrottleStats",
]

log = logging.getLogger("unigroups.http.throttle")

#: How a send ended, as a throttle learns from it: the vendor took it, refused it for load
#: (429), or it failed otherwise (no lesson about load).
SendOutcome: TypeAlias = Literal["ok", "rate_limited", "failed"]


@attrs.frozen
class Permit:
    """One slot held; handed back to ``release``. ``started`` is the throttle's clock."""

    started: float


@attrs.frozen
class ThrottleStats:
    """What a throttle did so far, for progress displays and benchmarks."""

    limit: int  # slots now
    max_limit: int  # the configured ceiling
    in_flight: int
    rate_limited: int  # 429 answers seen
    waits: int  # acquires that had to wait for a slot or a pause
    waited: float  # seconds spent waiting, all acquires together
    refused: int  # acquires given up because the wait would pass max_wait
    paused_for: float  # seconds until new sends may start (a vendor's Retry-After)


@runtime_checkable
class Throttle(Protocol):
    """Slots for requests in flight. Implement it to share one limit between processes."""

    async def acquire(self, *, max_wait: float) -> Permit | None:
        """A slot, waiting at most ``max_wait`` seconds; None when that is not enough."""
        ...

    def release(
        self, permit: Permit, outcome: SendOutcome, retry_after: float | None = None
    ) -> None:
        """Give the slot back and say how the send ended."""
        ...

    @property
    def stats(self) -> ThrottleStats: ...


class FixedThrottle:
    """At most ``limit`` requests in flight; a 429's Retry-After holds new sends back."""

    def __init__(
        self,
        limit: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"a throttle's limit must be an int of at least 1, not {limit!r}")
        self.max_limit = limit
        self.limit = float(limit)
        self._clock = clock
        self._sleep = sleep
        self._active = 0
        self._rate_limited = 0
        self._waits = 0
        self._waited = 0.0
        self._refused = 0
        self._paused_until = 0.0
        self._round_trip = 0.05  # seconds; a moving average of how long a send takes
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(limit={self.current}, in_flight={self._active})"

    @property
    def current(self) -> int:
        return max(1, int(self.limit))

    @property
    def stats(self) -> ThrottleStats:
        return ThrottleStats(
            limit=self.current,
            max_limit=self.max_limit,
            in_flight=self._active,
            rate_limited=self._rate_limited,
            waits=self._waits,
            waited=self._waited,
            refused=self._refused,
            paused_for=max(0.0, self._paused_until - self._clock()),
        )

    async def acquire(self, *, max_wait: float) -> Permit | None:
        started = self._clock()
        deadline = started + max_wait
        waited = False
        try:
            while True:
                now = self._clock()
                pause = self._paused_until - now
                if pause > 0:
                    if now + pause > deadline:
                        self._refused += 1
                        return None
                    waited = True
                    await self._sleep(pause)
                    continue
                # First come, first served: a newcomer queues behind waiters already there.
                if self._active < self.current and not self._waiters:
                    self._active += 1
                    return Permit(self._clock())
                if deadline - now <= 0:
                    self._refused += 1
                    return None
                waited = True
                if not await self._queue(deadline - now):
                    self._refused += 1
                    return None
                if self._paused_until <= self._clock():
                    return Permit(self._clock())  # the slot was handed over by _wake
                self._active -= 1  # a pause began meanwhile: give the slot back, wait it out
                self._wake()
        finally:
            if waited:
                self._waits += 1
                self._waited += self._clock() - started

    async def _queue(self, seconds: float) -> bool:
        """Wait for a slot handed over by ``_wake``, at most ``seconds``; False when the
        time ran out (the slot, if handed over meanwhile, passes to the next waiter)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(seconds):
                await waiter
        except TimeoutError:
            self._forget(waiter)
            return False
        except asyncio.CancelledError:
            self._forget(waiter)
            raise
        return True

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done() and not waiter.cancelled():
            self._active -= 1  # handed a slot, then gave up: it passes to the next one
            self._wake()
        elif waiter in self._waiters:
            self._waiters.remove(waiter)

    def release(
        self, permit: Permit, outcome: SendOutcome, retry_after: float | None = None
    ) -> None:
        now = self._clock()
        self._round_trip = 0.9 * self._round_trip + 0.1 * (now - permit.started)
        self._active -= 1
        before = self.current
        if outcome == "rate_limited":
            self._rate_limited += 1
            if retry_after and now + retry_after > self._paused_until:
                self._paused_until = now + retry_after
                log.info("holding new sends back for %.2f s (Retry-After)", retry_after)
            self._learn_refusal(now)
        elif outcome == "ok":
            self._learn_success()
        if self.current != before:
            # Down after a 429 is news; each step back up only with -vv.
            level = logging.INFO if self.current < before else logging.DEBUG
            log.log(level, "limit %d -> %d requests in flight", before, self.current)
        self._wake()

    def _wake(self) -> None:
        # Hand free slots to the waiters in turn, counting each as taken at once, so that
        # a newcomer cannot take it before the woken waiter runs.
        while self._active < self.current and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._active += 1

    def _learn_success(self) -> None:
        """A fixed throttle learns nothing."""

    def _learn_refusal(self, now: float) -> None:
        """A fixed throttle learns nothing."""


class AdaptiveThrottle(FixedThrottle):
    """AIMD: a 429 shrinks the limit by a factor (at most once per round trip, since one
    overload answers several sends at once); every success grows it back by a fraction of a
    slot, up to ``limit``. Growth is quick up to just under the level the vendor last
    refused and slow past it (``probe``): a vendor with a fixed cap is then held near that
    cap with a 429 every couple of hundred sends, not every few dozen.
    """

    def __init__(
        self,
        limit: int,
        *,
        decrease: float = 0.75,
        increase: float = 1.0,
        probe: float = 0.0625,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(limit, clock=clock, sleep=sleep)
        if not (0 < decrease < 1 and increase > 0 and 0 < probe <= 1):
            raise ValueError("decrease must be in (0, 1), increase above 0, probe in (0, 1]")
        self._decrease = decrease
        self._increase = increase
        self._probe = probe
        self._refused_at = float("inf")  # the limit when the vendor last answered 429
        self._last_decrease = float("-inf")
        # When recent sends were answered OK: a burst of 429s is measured against them.
        self._taken: collections.deque[float] = collections.deque(maxlen=4 * limit)

    def _learn_success(self) -> None:
        self._taken.append(self._clock())
        if self.limit < self.max_limit:
            step = self._increase / self.limit
            if self.limit >= self._refused_at - 1:
                step *= self._probe  # near the level refused last time: probe it slowly
                if self.limit > self._refused_at + 1:
                    self._refused_at = float("inf")  # the vendor takes more now
            self.limit = min(self.max_limit, self.limit + step)

    def _learn_refusal(self, now: float) -> None:
        if now - self._last_decrease > self._round_trip:
            self._refused_at = self.limit
            self.limit = max(1.0, self.limit * self._decrease)
            self._last_decrease = now
        else:
            # More refusals in the same round trip (a burst over a cap): the vendor took at
            # most what is still in flight and what it answered OK in that round trip, a
            # tighter bound than the factor.
            since = self._last_decrease - self._round_trip
            took = float(self._active + sum(1 for t in self._taken if t >= since))
            if took >= 1:
                self._refused_at = min(self._refused_at, took + 1)
                self.limit = max(1.0, min(self.limit, took))
