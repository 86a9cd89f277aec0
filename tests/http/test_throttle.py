"""Throttles: slots, a 429's Retry-After pause, bounded waits, cancellation, AIMD.

Pauses run on a fake clock (``FakeClock``: its ``sleep`` records the seconds and moves ``now``
on); waits for a slot use real asyncio with a small or generous ``max_wait``. Nothing asserts
on wall-clock durations: only on outcomes, counts and the sleeps recorded.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Coroutine
from typing import Any

import pytest

from unigroups.http.throttle import (
    AdaptiveThrottle,
    FixedThrottle,
    Permit,
    SendOutcome,
    Throttle,
    ThrottleStats,
)

LONG = 10.0  # a max_wait the tests never reach: the slot is released long before


class FakeClock:
    """A throttle's clock and sleep: ``sleep`` records the seconds and advances ``now``."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def spin(turns: int = 5) -> None:
    """Let every ready task run a few steps (no wall-clock wait)."""
    for _ in range(turns):
        await asyncio.sleep(0)


async def take(throttle: FixedThrottle) -> Permit:
    """A slot that is free now (fails the test otherwise)."""
    permit = await throttle.acquire(max_wait=0)
    assert permit is not None
    return permit


def start(coro: Coroutine[Any, Any, Permit | None], tasks: list[asyncio.Task[Any]]) -> Any:
    task = asyncio.ensure_future(coro)
    tasks.append(task)
    return task


@pytest.fixture
async def tasks() -> Any:
    """Tasks a test starts; whatever is still pending at the end is cancelled."""
    started: list[asyncio.Task[Any]] = []
    yield started
    for task in started:
        task.cancel()
    await asyncio.gather(*started, return_exceptions=True)


def fixed(limit: int, clock: FakeClock) -> FixedThrottle:
    return FixedThrottle(limit, clock=clock, sleep=clock.sleep)


def adaptive(limit: int, clock: FakeClock, **options: float) -> AdaptiveThrottle:
    return AdaptiveThrottle(limit, clock=clock, sleep=clock.sleep, **options)


# -- construction and protocol ----------------------------------------------------------------


def test_both_throttles_implement_the_runtime_checkable_protocol() -> None:
    assert isinstance(FixedThrottle(1), Throttle)
    assert isinstance(AdaptiveThrottle(1), Throttle)
    assert not isinstance(object(), Throttle)


@pytest.mark.parametrize("cls", [FixedThrottle, AdaptiveThrottle])
@pytest.mark.parametrize("limit", [0, -1, True, False, 2.5, 3.0, "3", None])
def test_a_limit_that_is_not_a_positive_int_is_refused(
    cls: type[FixedThrottle], limit: Any
) -> None:
    with pytest.raises(ValueError, match="a throttle's limit must be an int of at least 1"):
        cls(limit)


def test_new_throttle_stats() -> None:
    clock = FakeClock()
    assert fixed(3, clock).stats == ThrottleStats(
        limit=3,
        max_limit=3,
        in_flight=0,
        rate_limited=0,
        waits=0,
        waited=0.0,
        refused=0,
        paused_for=0.0,
    )
    assert adaptive(16, clock).stats.limit == 16
    assert adaptive(16, clock).stats.max_limit == 16


# -- FixedThrottle: slots -----------------------------------------------------------------------


async def test_fixed_throttle_holds_at_most_its_limit(tasks: list[asyncio.Task[Any]]) -> None:
    clock = FakeClock()
    throttle = fixed(3, clock)
    permits = [await take(throttle) for _ in range(3)]
    assert permits == [Permit(1000.0)] * 3
    assert throttle.stats.in_flight == 3
    assert throttle.stats.limit == 3

    fourth = start(throttle.acquire(max_wait=LONG), tasks)
    await spin()
    assert not fourth.done()
    assert throttle.stats.in_flight == 3

    clock.now = 1002.0
    throttle.release(permits[0], "ok")
    await spin()
    assert fourth.done()
    assert fourth.result() == Permit(1002.0)
    stats = throttle.stats
    assert stats.in_flight == 3
    assert stats.waits == 1
    assert stats.waited == 2.0  # on the throttle's clock, from 1000 to 1002
    assert stats.refused == 0
    assert clock.sleeps == []  # a wait for a slot is not a pause


async def test_release_frees_a_slot_for_an_immediate_acquire() -> None:
    throttle = fixed(1, FakeClock())
    permit = await take(throttle)
    assert await throttle.acquire(max_wait=0) is None
    throttle.release(permit, "ok")
    assert throttle.stats.in_flight == 0
    assert await throttle.acquire(max_wait=0) == Permit(1000.0)
    assert throttle.stats.in_flight == 1


async def test_waiters_get_slots_in_arrival_order(tasks: list[asyncio.Task[Any]]) -> None:
    throttle = fixed(1, FakeClock())
    held = await take(throttle)
    waiters = []
    for _ in range(3):
        waiters.append(start(throttle.acquire(max_wait=LONG), tasks))
        await spin()

    for expected_done in range(1, 4):
        throttle.release(held, "ok")
        await spin()
        assert [w.done() for w in waiters] == [i < expected_done for i in range(3)]
        held = waiters[expected_done - 1].result()
        assert isinstance(held, Permit)
        assert throttle.stats.in_flight == 1
    assert throttle.stats.waits == 3


async def test_one_release_starts_one_waiter(tasks: list[asyncio.Task[Any]]) -> None:
    throttle = fixed(2, FakeClock())
    first, second = await take(throttle), await take(throttle)
    waiters = [start(throttle.acquire(max_wait=LONG), tasks) for _ in range(4)]
    await spin()
    throttle.release(first, "ok")
    await spin()
    assert sum(w.done() for w in waiters) == 1
    throttle.release(second, "failed")
    await spin()
    assert sum(w.done() for w in waiters) == 2
    assert throttle.stats.in_flight == 2


async def test_fixed_limit_never_changes_on_429() -> None:
    clock = FakeClock()
    throttle = fixed(3, clock)
    for _ in range(50):
        permits = [await take(throttle) for _ in range(3)]
        for permit in permits:
            throttle.release(permit, "rate_limited")
        clock.now += 1.0
    stats = throttle.stats
    assert stats.limit == 3
    assert stats.max_limit == 3
    assert stats.rate_limited == 150
    assert stats.in_flight == 0
    assert throttle.limit == 3.0


# -- Retry-After pause --------------------------------------------------------------------------


async def test_a_429_with_retry_after_pauses_the_next_acquire() -> None:
    clock = FakeClock()
    throttle = fixed(2, clock)
    permit = await take(throttle)
    throttle.release(permit, "rate_limited", retry_after=5)
    stats = throttle.stats
    assert stats.rate_limited == 1
    assert stats.paused_for == 5.0
    assert stats.in_flight == 0
    assert stats.limit == 2

    clock.now += 2.0
    assert throttle.stats.paused_for == 3.0

    permit = await throttle.acquire(max_wait=LONG)
    assert clock.sleeps == [3.0]
    assert permit == Permit(1005.0)
    stats = throttle.stats
    assert stats.paused_for == 0.0
    assert stats.waits == 1
    assert stats.waited == 3.0
    assert stats.refused == 0
    assert stats.in_flight == 1


async def test_the_pause_is_slept_in_full_on_the_fake_clock() -> None:
    clock = FakeClock()
    throttle = fixed(1, clock)
    throttle.release(await take(throttle), "rate_limited", retry_after=5)
    permit = await throttle.acquire(max_wait=LONG)
    assert permit == Permit(1005.0)
    assert clock.sleeps == [5.0]
    assert throttle.stats.waited == 5.0
    # The pause is over: the next acquire (after a release) does not sleep.
    throttle.release(permit, "ok")
    assert await throttle.acquire(max_wait=0) == Permit(1005.0)
    assert clock.sleeps == [5.0]
    assert throttle.stats.waits == 1


async def test_the_longest_retry_after_wins() -> None:
    clock = FakeClock()
    throttle = fixed(3, clock)
    a, b, c = [await take(throttle) for _ in range(3)]
    throttle.release(a, "rate_limited", retry_after=5)
    throttle.release(b, "rate_limited", retry_after=2)  # shorter: does not end the pause early
    assert throttle.stats.paused_for == 5.0
    throttle.release(c, "rate_limited", retry_after=8)
    assert throttle.stats.paused_for == 8.0
    assert throttle.stats.rate_limited == 3


@pytest.mark.parametrize("retry_after", [None, 0, 0.0])
async def test_a_429_without_retry_after_does_not_pause(retry_after: float | None) -> None:
    clock = FakeClock()
    throttle = fixed(1, clock)
    throttle.release(await take(throttle), "rate_limited", retry_after=retry_after)
    assert throttle.stats.paused_for == 0.0
    assert throttle.stats.rate_limited == 1
    assert await throttle.acquire(max_wait=0) == Permit(1000.0)
    assert clock.sleeps == []


@pytest.mark.parametrize("outcome", ["ok", "failed"])
async def test_retry_after_on_other_outcomes_is_ignored(outcome: SendOutcome) -> None:
    clock = FakeClock()
    throttle = fixed(1, clock)
    throttle.release(await take(throttle), outcome, retry_after=5)
    assert throttle.stats.paused_for == 0.0
    assert throttle.stats.rate_limited == 0


async def test_a_paused_waiter_for_a_slot_sleeps_the_pause_once_woken(
    tasks: list[asyncio.Task[Any]],
) -> None:
    clock = FakeClock()
    throttle = fixed(1, clock)
    held = await take(throttle)
    waiter = start(throttle.acquire(max_wait=LONG), tasks)
    await spin()
    throttle.release(held, "rate_limited", retry_after=4)
    await spin()
    assert waiter.done()
    assert waiter.result() == Permit(1004.0)
    assert clock.sleeps == [4.0]
    assert throttle.stats.waits == 1
    assert throttle.stats.waited == 4.0


# -- bounded waits ------------------------------------------------------------------------------


async def test_a_pause_longer_than_max_wait_refuses_at_once() -> None:
    clock = FakeClock()
    throttle = fixed(2, clock)
    throttle.release(await take(throttle), "rate_limited", retry_after=5)

    assert await throttle.acquire(max_wait=4.5) is None
    assert clock.sleeps == []  # refused without sleeping
    assert clock.now == 1000.0
    stats = throttle.stats
    assert stats.refused == 1
    assert stats.waits == 0
    assert stats.waited == 0.0
    assert stats.in_flight == 0
    assert stats.paused_for == 5.0

    assert await throttle.acquire(max_wait=0) is None
    assert throttle.stats.refused == 2
    assert clock.sleeps == []


async def test_a_pause_exactly_max_wait_long_is_waited() -> None:
    clock = FakeClock()
    throttle = fixed(1, clock)
    throttle.release(await take(throttle), "rate_limited", retry_after=5)
    assert await throttle.acquire(max_wait=5) == Permit(1005.0)
    assert clock.sleeps == [5.0]
    assert throttle.stats.refused == 0


async def test_a_full_throttle_refuses_after_max_wait_and_keeps_no_waiter(
    tasks: list[asyncio.Task[Any]],
) -> None:
    throttle = FixedThrottle(1)  # real clock and asyncio: a real, small max_wait
    held = await take(throttle)

    assert await throttle.acquire(max_wait=0.05) is None
    stats = throttle.stats
    assert stats.refused == 1
    assert stats.waits == 1
    assert stats.in_flight == 1
    # The timed-out turn is gone from the queue (a cancelled future left there would be
    # skipped by the next release, but a throttle nobody releases would pile them up).
    assert len(throttle._waiters) == 0

    # Had the timed-out acquire left its turn in the queue, this release would hand the
    # turn to it and the new waiter would wait in vain.
    waiter = start(throttle.acquire(max_wait=LONG), tasks)
    await spin()
    assert not waiter.done()
    throttle.release(held, "ok")
    await spin()
    assert waiter.done()
    assert isinstance(waiter.result(), Permit)
    assert throttle.stats.in_flight == 1
    assert throttle.stats.refused == 1


async def test_max_wait_zero_on_a_full_throttle_is_refused_at_once() -> None:
    throttle = fixed(1, FakeClock())
    await take(throttle)
    assert await throttle.acquire(max_wait=0) is None
    assert throttle.stats.refused == 1
    assert throttle.stats.in_flight == 1


# -- cancellation -------------------------------------------------------------------------------


async def test_a_cancelled_waiter_does_not_leak_the_slot(tasks: list[asyncio.Task[Any]]) -> None:
    throttle = fixed(1, FakeClock())
    held = await take(throttle)
    cancelled = start(throttle.acquire(max_wait=LONG), tasks)
    await spin()
    later = start(throttle.acquire(max_wait=LONG), tasks)
    await spin()

    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert throttle.stats.in_flight == 1

    throttle.release(held, "ok")
    await spin()
    assert later.done()
    assert isinstance(later.result(), Permit)
    assert throttle.stats.in_flight == 1

    throttle.release(later.result(), "ok")
    assert throttle.stats.in_flight == 0
    assert await throttle.acquire(max_wait=0) is not None


async def test_a_woken_then_cancelled_waiter_passes_its_turn_on(
    tasks: list[asyncio.Task[Any]],
) -> None:
    throttle = fixed(1, FakeClock())
    held = await take(throttle)
    first = start(throttle.acquire(max_wait=LONG), tasks)
    await spin()
    second = start(throttle.acquire(max_wait=LONG), tasks)
    await spin()

    throttle.release(held, "ok")  # wakes ``first``...
    first.cancel()  # ...which is cancelled before it runs
    await spin()
    assert first.cancelled()
    assert second.done()
    assert isinstance(second.result(), Permit)
    assert throttle.stats.in_flight == 1


async def test_a_task_cancelled_during_a_pause_holds_no_slot() -> None:
    clock = FakeClock()
    slept = asyncio.Event()

    async def stuck_sleep(seconds: float) -> None:
        clock.sleeps.append(seconds)
        slept.set()
        await asyncio.Event().wait()  # never ends: only cancellation gets out

    throttle = FixedThrottle(1, clock=clock, sleep=stuck_sleep)
    throttle.release(await take(throttle), "rate_limited", retry_after=5)
    task = asyncio.ensure_future(throttle.acquire(max_wait=LONG))
    await slept.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.sleeps == [5.0]
    stats = throttle.stats
    assert stats.in_flight == 0
    assert stats.waits == 1
    clock.now += 5
    assert await throttle.acquire(max_wait=0) == Permit(1005.0)


# -- AdaptiveThrottle: AIMD ---------------------------------------------------------------------


async def grow(throttle: AdaptiveThrottle, successes: int) -> list[float]:
    """``successes`` sends one after another, all taken; the limit after each."""
    limits = []
    for _ in range(successes):
        throttle.release(await take(throttle), "ok")
        limits.append(throttle.limit)
    return limits


async def test_a_429_shrinks_the_limit_once_per_round_trip() -> None:
    clock = FakeClock()
    throttle = adaptive(16, clock)
    a, b = await take(throttle), await take(throttle)
    throttle.release(a, "rate_limited")
    assert throttle.limit == 12.0
    assert throttle.stats.limit == 12
    assert throttle.stats.max_limit == 16
    throttle.release(b, "rate_limited")  # the same overload answering a second send
    assert throttle.limit == 12.0

    clock.now += 1.0  # far more than a round trip later: a new overload
    throttle.release(await take(throttle), "rate_limited")
    assert throttle.limit == 9.0
    assert throttle.stats.rate_limited == 3


async def test_the_decrease_factor_is_configurable_and_the_floor_is_one() -> None:
    clock = FakeClock()
    throttle = adaptive(16, clock, decrease=0.5)
    for expected in (8.0, 4.0, 2.0, 1.0, 1.0):
        throttle.release(await take(throttle), "rate_limited")
        assert throttle.limit == expected
        clock.now += 1.0
    assert throttle.stats.limit == 1


@pytest.mark.parametrize(
    "order",
    ["refusals first", "successes first"],
)
async def test_a_burst_of_429s_tightens_the_limit_to_what_the_vendor_took(order: str) -> None:
    """16 sends at once to a vendor that takes 6: it answers 6 ok and 10 429s."""
    clock = FakeClock()
    throttle = adaptive(16, clock)
    permits = [await take(throttle) for _ in range(16)]
    clock.now += 0.2
    taken, refused = permits[:6], permits[6:]
    if order == "refusals first":
        for permit in refused:
            throttle.release(permit, "rate_limited")
        assert throttle.limit == 6.0  # the 6 still in flight when the last 429 came
    for permit in taken:
        throttle.release(permit, "ok")
    if order == "successes first":
        for permit in refused:
            throttle.release(permit, "rate_limited")
    assert throttle.stats.rate_limited == 10
    assert throttle.stats.in_flight == 0
    assert throttle.stats.limit == 6


async def test_429s_in_one_round_trip_tighten_towards_what_was_in_flight() -> None:
    clock = FakeClock()
    throttle = adaptive(16, clock)
    permits = [await take(throttle) for _ in range(16)]
    clock.now += 0.2
    limits = []
    for permit in permits[:12]:
        throttle.release(permit, "rate_limited")
        limits.append(throttle.limit)
    # The first shrinks by the factor (16 -> 12); the next ones cap it at the sends still
    # in flight besides the one refused: 14, 13, 12 keep it at 12, then 11, 10, ... 4.
    assert limits == [12.0, 12.0, 12.0, 12.0, 11.0, 10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0]


async def test_successes_grow_the_limit_back_to_its_ceiling_and_never_past_it() -> None:
    clock = FakeClock()
    throttle = adaptive(16, clock)
    throttle.release(await take(throttle), "rate_limited")
    assert throttle.limit == 12.0
    limits = await grow(throttle, 2000)
    assert limits == sorted(limits)  # never shrinks on success
    assert max(limits) == 16
    assert throttle.limit == 16
    assert throttle.stats.limit == 16
    assert limits.index(16) > 100  # not at once: the last slot is probed


async def test_successes_at_the_ceiling_keep_it() -> None:
    throttle = adaptive(4, FakeClock())
    assert await grow(throttle, 50) == [4.0] * 50


async def test_growth_near_the_refused_level_is_slow() -> None:
    clock = FakeClock()
    probing = adaptive(16, clock)  # default probe: slow past 15 (refused at 16)
    fast = adaptive(16, clock, probe=1.0)  # no probing: the fast rate throughout
    for throttle in (probing, fast):
        throttle.release(await take(throttle), "rate_limited")
        assert throttle.limit == 12.0
        await grow(throttle, 60)
    assert fast.limit == 16
    assert 15.0 < probing.limit < 15.2  # ~40 sends to 15, then 1/16 of the fast rate
    assert probing.stats.limit == 15


async def test_the_refused_level_is_forgotten_once_probed_past() -> None:
    clock = FakeClock()
    throttle = adaptive(32, clock)
    for expected in (24.0, 18.0):  # refused at 32, then at 24
        throttle.release(await take(throttle), "rate_limited")
        assert throttle.limit == expected
        clock.now += 1.0
    limits = await grow(throttle, 1200)
    past = next(i for i, limit in enumerate(limits) if limit > 25)  # probed past 24 + 1
    to_28 = next(i for i, limit in enumerate(limits) if limit >= 28) - past
    # Fast again: about (28² - 25²) / 2 = 80 sends; still probing it would take ~16 times more.
    assert to_28 < 150
    assert throttle.limit == 32


async def test_a_429_on_the_adaptive_throttle_also_pauses() -> None:
    clock = FakeClock()
    throttle = adaptive(8, clock)
    throttle.release(await take(throttle), "rate_limited", retry_after=3)
    assert throttle.stats.paused_for == 3.0
    assert throttle.limit == 6.0
    assert await throttle.acquire(max_wait=2) is None
    assert clock.sleeps == []
    assert await throttle.acquire(max_wait=3) == Permit(1003.0)
    assert clock.sleeps == [3.0]


async def test_failures_teach_nothing() -> None:
    clock = FakeClock()
    throttle = adaptive(8, clock)
    throttle.release(await take(throttle), "rate_limited")
    assert throttle.limit == 6.0
    for _ in range(20):
        throttle.release(await take(throttle), "failed")
        clock.now += 1.0
    assert throttle.limit == 6.0
    assert throttle.stats.rate_limited == 1


VENDOR_CAP = 6


async def test_adaptive_throttle_holds_a_capped_vendor_near_its_cap_in_rounds() -> None:
    """Rounds: send as many as the limit allows at once; the vendor takes 6 and answers the
    rest 429 (those come back first), all within one round trip; repeat."""
    clock = FakeClock()
    throttle = adaptive(16, clock)
    sends = refusals = 0
    while sends < 3000:
        permits = []
        while (permit := await throttle.acquire(max_wait=0)) is not None:
            permits.append(permit)
        assert len(permits) == throttle.stats.limit
        clock.now += 0.1  # one round trip
        for permit in permits[VENDOR_CAP:]:
            throttle.release(permit, "rate_limited")
        for permit in permits[:VENDOR_CAP]:
            throttle.release(permit, "ok")
        sends += len(permits)
        refusals += len(permits) - min(len(permits), VENDOR_CAP)
    assert throttle.stats.rate_limited == refusals
    assert refusals / sends < 0.05
    assert refusals > 10  # it does keep probing the cap
    assert 4 <= throttle.stats.limit <= 8
    assert throttle.stats.in_flight == 0


@pytest.mark.parametrize(
    ("seed", "refusal_latency", "answer_latency"),
    [(1, 0.01, 0.1), (2, 0.1, 0.1), (3, 0.001, 0.5), (4, 0.2, 0.1)],
)
async def test_adaptive_throttle_holds_a_capped_vendor_near_its_cap_pipelined(
    seed: int, refusal_latency: float, answer_latency: float
) -> None:
    """Event by event: a send starts as soon as a slot is free; the vendor refuses it (429)
    when 6 are already being worked on; latencies vary (seeded)."""
    rnd = random.Random(seed)
    clock = FakeClock()
    throttle = adaptive(16, clock)
    pending: list[tuple[float, int, Permit, SendOutcome]] = []
    working = sends = refusals = 0
    limits: list[float] = []

    async def fill() -> None:
        nonlocal working, sends
        while sends < 3000 and (permit := await throttle.acquire(max_wait=0)) is not None:
            sends += 1
            outcome: SendOutcome = "ok" if working < VENDOR_CAP else "rate_limited"
            latency = answer_latency if outcome == "ok" else refusal_latency
            working += outcome == "ok"
            answered = clock.now + latency * (0.5 + rnd.random())
            heapq.heappush(pending, (answered, sends, permit, outcome))

    await fill()
    while pending:
        clock.now, _, permit, outcome = heapq.heappop(pending)
        if outcome == "ok":
            working -= 1
        else:
            refusals += 1
        throttle.release(permit, outcome)
        limits.append(throttle.limit)
        await fill()

    assert sends == 3000
    assert throttle.stats.rate_limited == refusals
    assert refusals / sends < 0.05
    assert 4 <= throttle.stats.limit <= 8
    assert min(limits[len(limits) // 2 :]) >= 4
    assert max(limits[len(limits) // 2 :]) <= 8
