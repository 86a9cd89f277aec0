"""The adaptive concurrency limit: how it comes down on 429s, climbs back, and hands out
slots."""

from __future__ import annotations

import asyncio

from unigroups.concurrency import AdaptiveLimit


def test_the_limit_comes_down_to_a_cap_at_once_and_probes_past_it_slowly() -> None:
    now = [0.0]
    limit = AdaptiveLimit(32, clock=lambda: now[0])
    limit.active = 32
    for _ in range(22):  # a burst: 22 of 32 refused within one round trip
        limit.rate_limited_by_vendor(None)
        limit.active -= 1
    assert limit.current == 10  # what was in flight besides the refused calls, less one

    def successes_from_10_to_11(probe: float) -> int:
        climbing = AdaptiveLimit(32, probe=probe)
        climbing.limit, climbing._refused_at = 10.0, 11.0
        steps = 0
        while climbing.limit < 11:
            climbing.succeeded()
            steps += 1
        return steps

    assert successes_from_10_to_11(0.0625) >= 15 * successes_from_10_to_11(1.0)


async def test_slots_never_exceed_the_limit_and_a_cancelled_waiter_leaks_nothing() -> None:
    limit = AdaptiveLimit(3, adaptive=False)
    peak = 0

    async def user() -> None:
        nonlocal peak
        async with limit.slot():
            peak = max(peak, limit.active)
            await asyncio.sleep(0.01)

    users = [asyncio.create_task(user()) for _ in range(20)]
    await asyncio.sleep(0.005)
    users[10].cancel()
    users[15].cancel()
    await asyncio.gather(*users, return_exceptions=True)
    assert (peak, limit.active, len(limit._waiters)) == (3, 0, 0)


async def test_a_waiter_woken_and_then_cancelled_passes_its_turn_on() -> None:
    limit = AdaptiveLimit(1, adaptive=False)
    async with limit.slot():
        first = asyncio.create_task(limit.slot().__aenter__())
        second = asyncio.create_task(limit.slot().__aenter__())
        await asyncio.sleep(0)  # both wait
    first.cancel()  # leaving the slot woke it; it is cancelled before it runs
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)
    assert limit.active == 1
