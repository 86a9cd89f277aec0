"""The journal in Redis: one run per part, one target per job, records only while locked,
a damaged record refused before anything is sent, Redis gone -> JournalError at once."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from unigroups import Group, JournalError
from unigroups.backends.memory import MemoryBackend
from unigroups.batch import run_batch
from unigroups.distributed.journal import RedisJournal
from unigroups.distributed.keys import JobKeys
from unigroups.journal import JournalEntry, JournalTarget
from unigroups.operations import Create
from unigroups.testing.redis_server import RedisServer

TARGET = JournalTarget("memory", "abc")


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_states_recorded_by_one_run_are_read_by_the_next(client: aioredis.Redis) -> None:
    async with await RedisJournal.open(client, "job1", target=TARGET, part=2) as journal:
        await journal.record(JournalEntry("create:a", "started"))
        await journal.record(JournalEntry("create:a", "done", "10"))
        await journal.record(JournalEntry("create:b", "in_doubt", None, "timed out"))
    line = await client.hget(JobKeys("job1").states, "create:a")
    assert line is not None and b'"state": "done"' in line and b'"group_id": "10"' in line
    async with await RedisJournal.open(
        client, "job1", target=TARGET, part=2, keys=["create:a", "create:b", "create:c"]
    ) as again:
        assert again.get("create:a") == JournalEntry("create:a", "done", "10")
        assert again.get("create:b") == JournalEntry("create:b", "in_doubt", None, "timed out")
        assert again.get("create:c") is None


async def test_a_part_held_by_a_live_run_is_refused(client: aioredis.Redis) -> None:
    async with await RedisJournal.open(client, "job1", target=TARGET, part=0, lease=5):
        with pytest.raises(JournalError, match="held by another run"):
            await RedisJournal.open(client, "job1", target=TARGET, part=0)
        # another part of the same job is free
        async with await RedisJournal.open(client, "job1", target=TARGET, part=1):
            pass
    async with await RedisJournal.open(client, "job1", target=TARGET, part=0):
        pass  # given back on close


async def test_a_lease_not_renewed_passes_the_part_on_and_the_old_run_cannot_write(
    client: aioredis.Redis,
) -> None:
    first = await RedisJournal.open(client, "job1", target=TARGET, lease=0.3)
    assert first._renewal is not None
    first._renewal.cancel()  # as if its process froze
    await client.delete(JobKeys("job1").lock(0))  # its lease ran out
    second = await RedisJournal.open(client, "job1", target=TARGET)
    with pytest.raises(JournalError, match="no longer this run's"):
        await first.record(JournalEntry("create:a", "done", "1"))
    with pytest.raises(JournalError, match="no longer this run's"):
        await first.record(JournalEntry("create:b", "done", "2"))  # and every time after
    await second.record(JournalEntry("create:a", "done", "3"))
    await first.aclose()  # never unlocks another run's lock
    with pytest.raises(JournalError, match="held by another run"):
        await RedisJournal.open(client, "job1", target=TARGET)
    await second.aclose()


async def test_a_job_of_another_target_is_refused_naming_both(client: aioredis.Redis) -> None:
    async with await RedisJournal.open(client, "job1", target=TARGET):
        pass
    other = JournalTarget("zoho", "def")
    with pytest.raises(JournalError, match="for memory target abc, not for zoho target def"):
        await RedisJournal.open(client, "job1", target=other, part=1)
    assert await client.exists(JobKeys("job1").lock(1)) == 0  # a refused open holds nothing


async def test_a_damaged_record_is_refused_before_anything_runs(client: aioredis.Redis) -> None:
    keys = JobKeys("job1")
    await client.hset(keys.states, "create:a", '{"key": "create:a", "state": "finished"}')
    backend = MemoryBackend()
    with pytest.raises(JournalError, match=r"damaged at the record of 'create:a'.*\"state\""):
        await RedisJournal.open(client, "job1", target=TARGET, keys=["create:a"])
    assert [g async for g in backend.groups()] == []
    assert await client.exists(keys.lock(0)) == 0


async def test_a_batch_on_a_redis_journal_skips_what_is_done(client: aioredis.Redis) -> None:
    backend = MemoryBackend()
    target = JournalTarget(backend.name, backend.fingerprint())
    ops = [Create(Group(f"g{i}")) for i in range(5)]
    async with await RedisJournal.open(client, "job1", target=target) as journal:
        first = await run_batch(backend, ops[:3], journal=journal)
    assert first.done == 3
    async with await RedisJournal.open(
        client, "job1", target=target, keys=[op.key for op in ops]
    ) as journal:
        second = await run_batch(backend, ops, journal=journal)
    assert (second.done, second.skipped) == (2, 3)
    assert sorted([g.name async for g in backend.groups()]) == [f"g{i}" for i in range(5)]


async def test_redis_gone_mid_job_ends_it_with_journal_error(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url, socket_timeout=2)
    backend = MemoryBackend()
    target = JournalTarget(backend.name, backend.fingerprint())
    journal = await RedisJournal.open(client, "job1", target=target)
    redis_server.kill()
    with pytest.raises(JournalError, match="cannot write to the journal redis job job1 part 0"):
        await run_batch(backend, [Create(Group("g"))], journal=journal)
    await journal.aclose()  # the lock lapses by its lease; closing does not hang or raise
    await client.aclose()


async def test_redis_unreachable_at_open_is_journal_error(redis_server: RedisServer) -> None:
    redis_server.kill()
    client = aioredis.Redis.from_url(redis_server.url, socket_timeout=2)
    with pytest.raises(JournalError, match="cannot open the journal redis job job1 part 0"):
        await RedisJournal.open(client, "job1", target=TARGET)
    await client.aclose()


async def test_a_renewal_whose_cancel_the_client_swallows_still_ends_at_close(
    client: aioredis.Redis,
) -> None:
    journal = await RedisJournal.open(client, "job1", target=TARGET, lease=0.6)
    renewal = journal._renewal
    renew = journal._renew_script
    inside = asyncio.Event()

    async def swallowing(**arguments: Any) -> Any:
        inside.set()
        # As a client can: the cancel ends the wait, and the call goes on as if nothing was.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)
        return await renew(**arguments)

    journal._renew_script = swallowing  # type: ignore[method-assign]
    await inside.wait()
    closing = asyncio.create_task(journal.aclose())
    done, _ = await asyncio.wait({closing}, timeout=10)  # before the fix: never
    journal._renew_script = renew  # type: ignore[method-assign]
    if not done:  # end what the bug left running before failing
        assert renewal is not None
        renewal.cancel()
        await asyncio.wait({closing}, timeout=5)
    assert done, "aclose waited for a renewal that went on"
    assert await client.get(JobKeys("job1").lock(0)) is None  # the part is given back
