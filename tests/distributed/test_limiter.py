"""RedisThrottle: one limit per org key for every worker, on a real redis-server (never a fake)."""

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from unigroups import Group, open_backend
from unigroups.batch import Create, run_batch
from unigroups.distributed.limiter import RedisPermit, RedisThrottle
from unigroups.errors import ConfigurationError
from unigroups.http.throttle import Throttle
from unigroups.testing.redis_server import RedisServer
from unigroups.testing.zoho_emulator import ZohoEmulator

ROOT = Path(__file__).resolve().parents[2]

# One worker process: ``tasks`` tasks each take a slot ``rounds`` times, hold it a few ms
# and count, in Redis, how many hold one at once (INCR on taking, DECR before giving back).
WORKER = """
import asyncio, json, sys
import redis.asyncio as aioredis
from unigroups.distributed.limiter import RedisThrottle

url, key, limit, tasks, rounds, workers = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])

async def main():
    r = aioredis.Redis.from_url(url)
    seen, refused = [], 0
    async with RedisThrottle(url, key, limit, lease=5.0) as throttle:
        await r.incr("ready")
        while int(await r.get("ready")) < workers:  # start together
            await asyncio.sleep(0.005)

        async def task():
            nonlocal refused
            for _ in range(rounds):
                permit = await throttle.acquire(max_wait=60)
                if permit is None:
                    refused += 1
                    continue
                try:
                    seen.append(await r.incr("holding"))
                    await asyncio.sleep(0.003)
                    await r.decr("holding")
                finally:
                    throttle.release(permit, "ok")

        await asyncio.gather(*(task() for _ in range(tasks)))
    await r.aclose()
    print(json.dumps({"granted": len(seen), "refused": refused, "most": max(seen)}))

asyncio.run(main())
"""

# Takes ``slots`` slots with a short lease, says so, then holds them until killed.
HOLDER = """
import asyncio, sys
from unigroups.distributed.limiter import RedisThrottle

async def main():
    throttle = RedisThrottle(sys.argv[1], sys.argv[2], int(sys.argv[3]), lease=float(sys.argv[4]))
    for _ in range(int(sys.argv[3])):
        assert await throttle.acquire(max_wait=5) is not None
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def until(read: Callable[[], Awaitable[Any]], want: Any) -> Any:
    """Read until the value is ``want`` (or passes ``want`` if it is a test), at most
    two seconds: a throttle's releases reach Redis in the background."""
    test = want if callable(want) else lambda value: value == want
    async with asyncio.timeout(2):
        while True:
            value = await read()
            if value is not None and test(value):
                return value
            await asyncio.sleep(0.005)


def python(code: str, *args: object) -> list[str]:
    return [sys.executable, "-c", code, *map(str, args)]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


# -- many processes -----------------------------------------------------------------------


@pytest.mark.slow
def test_many_processes_never_hold_more_than_the_limit_and_all_get_their_slots(
    redis_url: str,
) -> None:
    workers, tasks, rounds, limit = 4, 15, 4, 5
    processes = [
        subprocess.Popen(
            python(WORKER, redis_url, "org-1", limit, tasks, rounds, workers),
            stdout=subprocess.PIPE,
            env=environment(),
            text=True,
        )
        for _ in range(workers)
    ]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        results.append(json.loads(out))
    assert max(r["most"] for r in results) <= limit
    assert max(r["most"] for r in results) >= 2  # they did run side by side
    assert [r["granted"] for r in results] == [tasks * rounds] * workers
    assert sum(r["refused"] for r in results) == 0


@pytest.mark.slow
async def test_the_slots_of_a_killed_process_come_back_after_its_lease(redis_url: str) -> None:
    holder = await asyncio.create_subprocess_exec(
        *python(HOLDER, redis_url, "org-1", 2, 1.0),
        stdout=asyncio.subprocess.PIPE,
        env=environment(),
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), timeout=30)
        assert line.strip() == b"held"
    finally:
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
    async with RedisThrottle(redis_url, "org-1", 2, lease=1.0) as throttle:
        # Right after the kill its leases still run: nothing is free yet.
        assert await throttle.acquire(max_wait=0.1) is None
        first = await throttle.acquire(max_wait=3)
        second = await throttle.acquire(max_wait=3)
        assert first is not None and second is not None
        throttle.release(first, "ok")
        throttle.release(second, "ok")


# -- one limit, learnt once ---------------------------------------------------------------


async def test_a_429_seen_by_one_process_lowers_the_limit_of_every_other(redis_url: str) -> None:
    async with RedisThrottle(redis_url, "org-1", 8, mode="adaptive") as b:
        async with RedisThrottle(redis_url, "org-1", 8, mode="adaptive") as a:
            permit = await a.acquire(max_wait=1)
            assert permit is not None
            a.release(permit, "rate_limited")
        # a's release reached Redis (aclose waits for it); b learns it on its next acquire.
        assert b.stats.limit == 8 and b.stats.rate_limited == 0
        permit = await b.acquire(max_wait=1)
        assert permit is not None
        assert b.stats.limit == 6
        assert b.stats.rate_limited == 1
        b.release(permit, "ok")


async def test_a_burst_of_429s_from_several_processes_decreases_once_then_successes_grow_it(
    redis_url: str,
) -> None:
    state = "unigroups:limit:{org-1}:state"
    client = aioredis.Redis.from_url(redis_url)
    async with (
        RedisThrottle(redis_url, "org-1", 8, mode="adaptive") as a,
        RedisThrottle(redis_url, "org-1", 8, mode="adaptive") as b,
    ):
        taken = [await a.acquire(max_wait=1), await b.acquire(max_wait=1)]
        for throttle, permit in zip((a, b), taken, strict=True):
            assert permit is not None
            throttle.release(permit, "rate_limited")  # one overload, answered twice
        await until(lambda: client.hget(state, "rate_limited"), b"2")
        assert float(await client.hget(state, "limit")) == 6.0  # x0.75 once, not twice
        for _ in range(6):
            permit = await b.acquire(max_wait=1)
            assert permit is not None
            b.release(permit, "ok")
        # Six steps of 1/limit: 6 -> 6.94 (six of +1 would pass 7.5).
        grown = await until(lambda: client.hget(state, "limit"), lambda v: float(v) > 6.9)
        assert float(grown) < 7.5
    await client.aclose()


async def test_a_retry_after_from_one_process_pauses_every_other(redis_url: str) -> None:
    async with RedisThrottle(redis_url, "org-1", 4, mode="adaptive") as b:
        async with RedisThrottle(redis_url, "org-1", 4, mode="adaptive") as a:
            permit = await a.acquire(max_wait=1)
            assert permit is not None
            a.release(permit, "rate_limited", 0.5)
        assert await b.acquire(max_wait=0.1) is None
        assert b.stats.waits == 0, "it waited instead of refusing at once"
        assert 0.2 < b.stats.paused_for <= 0.5
        assert b.stats.refused == 1
        permit = await b.acquire(max_wait=2)
        assert permit is not None
        assert b.stats.paused_for == 0, "granted during the pause"
        assert b.stats.waits == 1  # it waited the pause out
        b.release(permit, "ok")


async def test_a_fixed_throttle_honours_the_pause_and_counts_429s(redis_url: str) -> None:
    async with RedisThrottle(redis_url, "org-1", 4) as b:
        async with RedisThrottle(redis_url, "org-1", 4) as a:
            permit = await a.acquire(max_wait=1)
            assert permit is not None
            a.release(permit, "rate_limited", 60)
        assert await b.acquire(max_wait=1) is None
        assert b.stats.limit == 4  # fixed: the limit stays
        assert b.stats.rate_limited == 1
        assert b.stats.paused_for > 50


# -- bounded waits --------------------------------------------------------------------------


async def test_a_pause_longer_than_max_wait_refuses_at_once(redis_url: str) -> None:
    async with RedisThrottle(redis_url, "org-1", 2) as b:
        async with RedisThrottle(redis_url, "org-1", 2) as a:
            permit = await a.acquire(max_wait=1)
            assert permit is not None
            a.release(permit, "rate_limited", 1e9)
        assert await b.acquire(max_wait=0.2) is None
        assert await b.acquire(max_wait=0.2) is None  # known now: not even asked
        assert b.stats.waits == 0, "it slept on a pause it could not outlast"
        assert b.stats.refused == 2
        assert b.stats.paused_for > 1e8


async def test_a_waiter_is_refused_as_soon_as_a_pause_outlasts_its_wait(redis_url: str) -> None:
    async with (
        RedisThrottle(redis_url, "org-1", 1) as a,
        RedisThrottle(redis_url, "org-1", 1) as b,
    ):
        permit = await a.acquire(max_wait=1)
        assert permit is not None
        waiting = asyncio.create_task(b.acquire(max_wait=3))
        await asyncio.sleep(0.05)
        a.release(permit, "rate_limited", 60)  # b is queued when the pause begins
        assert await waiting is None
        assert b.stats.refused == 1 and b.stats.paused_for > 50
        # The throttle's own account of the wait: ended by the pause, not by max_wait.
        assert b.stats.waits == 1 and b.stats.waited < 3, "it waited out its max_wait"


async def test_a_full_cap_refuses_when_max_wait_runs_out(redis_url: str) -> None:
    async with (
        RedisThrottle(redis_url, "org-1", 2) as a,
        RedisThrottle(redis_url, "org-1", 2) as b,
    ):
        held = [await a.acquire(max_wait=1) for _ in range(2)]
        assert all(held)
        assert await b.acquire(max_wait=0.2) is None
        assert b.stats.refused == 1 and b.stats.waits == 1
        assert await a.acquire(max_wait=0) is None  # the holder too: two is all
        for permit in held:
            assert permit is not None
            a.release(permit, "ok")
        assert await b.acquire(max_wait=1) is not None


async def test_redis_down_means_refused_not_raised_and_back_when_it_is(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with RedisThrottle(redis_server.url, "org-1", 2) as throttle:
        permit = await throttle.acquire(max_wait=1)
        assert permit is not None
        redis_server.kill()
        with caplog.at_level(logging.WARNING, logger="unigroups.distributed.limiter"):
            throttle.release(permit, "ok")
            assert await throttle.acquire(max_wait=0.5) is None
            await asyncio.sleep(0.05)
        assert "could not give a slot back" in caplog.text
        assert throttle.stats.refused == 1
        redis_server.start()
        again = await throttle.acquire(max_wait=5)
        assert again is not None
        throttle.release(again, "ok")


async def test_a_wait_for_an_unreachable_redis_ends_at_its_deadline() -> None:
    throttle = RedisThrottle("redis://127.0.0.1:1/0", "org-1", 2)
    assert await throttle.acquire(max_wait=0.3) is None  # refused, never raised
    assert throttle.stats.refused == 1
    await throttle.aclose()


# -- leases -------------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_slot_held_longer_than_its_lease_is_renewed_not_lost(redis_url: str) -> None:
    async with (
        RedisThrottle(redis_url, "org-1", 1, lease=0.5) as a,
        RedisThrottle(redis_url, "org-1", 1, lease=0.5) as b,
    ):
        permit = await a.acquire(max_wait=1)
        assert permit is not None
        assert await b.acquire(max_wait=2) is None  # four leases long
        a.release(permit, "ok")
        assert await b.acquire(max_wait=1) is not None


async def test_closing_gives_back_the_slots_still_held(redis_url: str) -> None:
    async with RedisThrottle(redis_url, "org-1", 2) as b:
        a = RedisThrottle(redis_url, "org-1", 2)  # lease 30 s: only aclose can free them
        assert await a.acquire(max_wait=1) is not None
        assert await a.acquire(max_wait=1) is not None
        assert await b.acquire(max_wait=0.05) is None
        await a.aclose()
        assert await b.acquire(max_wait=0.5) is not None
        assert await b.acquire(max_wait=0.5) is not None


# -- waiting: FIFO in a process, no starving process ---------------------------------------


async def test_waiters_in_one_process_are_served_in_order(redis_url: str) -> None:
    async with RedisThrottle(redis_url, "org-1", 1) as throttle:
        first = await throttle.acquire(max_wait=1)
        assert first is not None
        order: list[int] = []

        async def wait(n: int) -> None:
            permit = await throttle.acquire(max_wait=5)
            assert permit is not None
            order.append(n)
            await asyncio.sleep(0.002)
            throttle.release(permit, "ok")

        waiting = []
        for n in range(6):
            waiting.append(asyncio.create_task(wait(n)))
            await asyncio.sleep(0.01)
        throttle.release(first, "ok")
        await asyncio.gather(*waiting)
        assert order == list(range(6))
        assert throttle.stats.waits == 6 and throttle.stats.in_flight == 0
        assert throttle.grants == {"direct": 1, "handoff": 6}  # never through Redis's pool


async def test_instances_share_the_cap_and_a_busy_one_does_not_starve_another(
    redis_url: str,
) -> None:
    holding = most = 0
    stop = asyncio.Event()
    async with (
        RedisThrottle(redis_url, "org-1", 2) as busy,
        RedisThrottle(redis_url, "org-1", 2) as other,
    ):

        async def use(throttle: RedisThrottle, times: int | None = None) -> None:
            nonlocal holding, most
            done = 0
            while (times is None and not stop.is_set()) or (times is not None and done < times):
                permit = await throttle.acquire(max_wait=5)
                assert permit is not None
                holding += 1
                most = max(most, holding)
                await asyncio.sleep(0.002)
                holding -= 1
                throttle.release(permit, "ok")
                done += 1

        # busy keeps every slot full and has waiters (it could hand its slots to them for
        # ever); other must still get turns, well within its max_wait.
        crowd = [asyncio.create_task(use(busy)) for _ in range(10)]
        try:
            await asyncio.sleep(0.05)
            late = await other.acquire(max_wait=0.5)
            assert late is not None, "a process with waiters kept every slot to itself"
            other.release(late, "ok")
            await use(other, 10)
        finally:
            stop.set()
            await asyncio.gather(*crowd)
        assert most <= 2


# -- wake-ups between processes -------------------------------------------------------------


async def blocked_clients(r: aioredis.Redis) -> int:
    """How many clients are blocked on a BLPOP now."""
    return int((await r.info("clients"))["blocked_clients"])


async def hand_over(a: RedisThrottle, b: RedisThrottle, r: aioredis.Redis, blocked: int) -> Any:
    """``a`` holds the one slot while ``b`` waits (its poller blocked on the wake list, which
    makes ``blocked`` clients blocked in all), then gives it back: how ``b`` got it."""
    held = await a.acquire(max_wait=1)
    assert held is not None
    waiting = asyncio.create_task(b.acquire(max_wait=30))
    await until(lambda: blocked_clients(r), blocked)
    a.release(held, "ok")
    permit = await waiting
    assert permit is not None
    b.release(permit, "ok")
    return b.grants


async def test_a_release_in_one_process_wakes_a_waiter_in_another(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    async with (
        RedisThrottle(redis_url, "org-1", 1) as a,
        # Its fallback poll comes long after its max_wait: only a wake-up can serve it.
        RedisThrottle(redis_url, "org-1", 1, poll=120) as b,
    ):
        assert await hand_over(a, b, r, blocked=1) == {"wake": 1}
    await r.aclose()


async def test_a_lost_wake_token_still_gives_the_slot_at_the_next_poll(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    thief = aioredis.Redis.from_url(redis_url)
    async with (
        RedisThrottle(redis_url, "org-1", 1) as a,
        RedisThrottle(redis_url, "org-1", 1, poll=0.2) as b,
    ):
        # Blocked first, the thief is the one Redis hands the token to.
        stolen = asyncio.create_task(thief.blpop(["unigroups:limit:{org-1}:wake"], timeout=30))
        await until(lambda: blocked_clients(r), 1)
        assert await hand_over(a, b, r, blocked=2) == {"poll": 1}
        assert await stolen is not None
    await thief.aclose()
    await r.aclose()


async def test_wake_tokens_are_one_per_waiting_process_and_expire(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    base = "unigroups:limit:{org-1}"
    async with RedisThrottle(redis_url, "org-1", 3) as a:
        held = [await a.acquire(max_wait=1) for _ in range(3)]
        # A process that waits but is not listening (stalled): it stays registered.
        await r.zadd(f"{base}:waiting", {"elsewhere": 2**50})
        for permit in held:
            assert permit is not None
            a.release(permit, "ok")
        await until(lambda: r.zcard(f"{base}:slots"), 0)
        assert await r.llen(f"{base}:wake") == 1  # three slots freed, one process to wake
        assert 0 < await r.pttl(f"{base}:wake") <= 1000
        assert a.grants == {"direct": 3}
    await r.aclose()


async def test_a_process_within_its_share_passes_a_slot_on_though_another_waits(
    redis_url: str,
) -> None:
    r = aioredis.Redis.from_url(redis_url)
    async with (
        RedisThrottle(redis_url, "org-1", 4) as a,
        RedisThrottle(redis_url, "org-1", 4, poll=120) as b,
    ):
        mine = [await a.acquire(max_wait=1) for _ in range(2)]
        theirs = [await b.acquire(max_wait=1) for _ in range(2)]
        later = asyncio.create_task(a.acquire(max_wait=30))
        waiting = asyncio.create_task(b.acquire(max_wait=30))
        await until(lambda: blocked_clients(r), 2)  # both wait on the wake list
        permit = mine[0]
        assert permit is not None
        a.release(permit, "ok")  # a holds 2 of 4, its share with b waiting: it keeps it
        passed = await later
        assert passed is not None and a.grants["handoff"] == 1
        assert not waiting.done() and await r.zcard("unigroups:limit:{org-1}:slots") == 4
        for permit in (mine[1], passed):
            assert permit is not None
            a.release(permit, "ok")  # no local waiter left: back to the pool, b woken
        got = await waiting
        assert got is not None and b.grants == {"direct": 2, "wake": 1}
        for permit in (*theirs, got):
            assert permit is not None
            b.release(permit, "ok")
    await r.aclose()


# -- through a backend ----------------------------------------------------------------------


async def test_a_zoho_backend_keeps_the_shared_limit(
    redis_url: str, zoho_emulator: ZohoEmulator, zoho_url: str
) -> None:
    zoho_emulator.faults.latency = 0.02
    async with RedisThrottle(redis_url, "zoho-org", 3) as throttle:
        assert isinstance(throttle, Throttle)
        async with open_backend(
            "zoho", api_domain=zoho_url, access_token="test-token", throttle=throttle
        ) as zoho:
            report = await run_batch(
                zoho, [Create(Group(f"group {n:02d}")) for n in range(30)], concurrency=20
            )
    assert [o.status for o in report.outcomes] == ["done"] * 30
    assert 2 <= zoho_emulator.stats.peak_in_flight <= 3
    assert len(zoho_emulator.groups) == 30


# -- the object itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "options", "option"),
    [
        (("ftp://h/", "k", 1), {}, "redis"),
        ((42, "k", 1), {}, "redis"),
        (("redis://h/", "", 1), {}, "key"),
        (("redis://h/", "a\nb", 1), {}, "key"),
        (("redis://h/", 7, 1), {}, "key"),
        (("redis://h/", "k", 0), {}, "limit"),
        (("redis://h/", "k", True), {}, "limit"),
        (("redis://h/", "k", 2.0), {}, "limit"),
        (("redis://h/", "k", 1), {"mode": "aimd"}, "mode"),
        (("redis://h/", "k", 1), {"lease": 0}, "lease"),
        (("redis://h/", "k", 1), {"lease": float("inf")}, "lease"),
        (("redis://h/", "k", 1), {"lease": float("nan")}, "lease"),
        (("redis://h/", "k", 1), {"lease": True}, "lease"),
        (("redis://h/", "k", 1), {"poll": -1}, "poll"),
        (("redis://h/", "k", 1), {"prefix": "a\x00"}, "prefix"),
    ],
)
def test_bad_arguments_are_refused_with_the_option_named(
    args: tuple[object, ...], options: dict[str, object], option: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        RedisThrottle(*args, **options)  # type: ignore[arg-type]
    assert refused.value.option == option


def test_a_sync_client_is_refused() -> None:
    import redis

    with pytest.raises(ConfigurationError, match=r"redis\.asyncio\.Redis"):
        RedisThrottle(redis.Redis(), "k", 1)  # type: ignore[arg-type]


def test_repr_shows_key_and_limit_never_the_password() -> None:
    throttle = RedisThrottle("redis://:s3cret@127.0.0.1:1/0", "org-1", 3)
    assert isinstance(throttle, Throttle)
    text = repr(throttle)
    assert "org-1" in text and "limit=3" in text
    assert "s3cret" not in text


async def test_a_client_passed_in_is_used_and_not_closed(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    async with RedisThrottle(client, "org-1", 1) as throttle:
        permit = await throttle.acquire(max_wait=1)
        assert isinstance(permit, RedisPermit)
        assert await client.zcard("unigroups:limit:{org-1}:slots") == 1
        throttle.release(permit, "ok")
    assert await client.ping()  # still open
    assert await client.zcard("unigroups:limit:{org-1}:slots") == 0
    await client.aclose()
