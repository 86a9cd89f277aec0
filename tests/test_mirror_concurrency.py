"""Planning reads groups concurrently, as many at once as each backend's throttle allows; the
first error ends the plan with that error and leaves no task behind."""

import asyncio

import pytest

from unigroups import Group, Member, MemberKind, NotFoundError, open_backend
from unigroups.backends.memory import MemoryBackend
from unigroups.batch import Update
from unigroups.mirror import plan
from unigroups.testing.faults import FaultPolicy
from unigroups.testing.server import serve
from unigroups.testing.zoho_emulator import ZohoEmulator

USER = "5725767000000411001"
COUNT = 24


def zoho_with_groups(cap: int) -> ZohoEmulator:
    """An org of COUNT groups that answers after 20 ms and refuses more than ``cap`` at once."""
    emulator = ZohoEmulator(faults=FaultPolicy(latency=0.02, max_in_flight=cap))
    for n in range(COUNT):
        emulator.seed_group(f"group {n:02d}")
    return emulator


async def source_of(count: int) -> MemoryBackend:
    source = MemoryBackend()
    for n in range(count):
        await source.create(Group(name=f"GROUP {n:02d}", members=[Member(MemberKind.USER, USER)]))
    return source


async def test_the_target_is_read_at_its_throttles_cap_never_above() -> None:
    emulator = zoho_with_groups(cap=4)
    source = await source_of(COUNT)
    async with (
        serve(emulator.make_app()) as url,
        open_backend(
            "zoho", api_domain=url, access_token="test-token", max_concurrency=4
        ) as target,
    ):
        # Ids carried as they are: the memory source lists no users to match by e-mail.
        result = await plan(source, target, match_users=None)
    assert emulator.stats.peak_in_flight == 4
    assert emulator.stats.capped == 0 and emulator.stats.too_many_requests == 0
    # One listing page, then each group and its first page of sources.
    assert emulator.stats.requests == 1 + 2 * COUNT
    assert len(result.operations) == COUNT
    assert all(isinstance(op, Update) and op.changes.add for op in result.operations)


async def test_the_source_is_read_at_its_throttles_cap() -> None:
    emulator = zoho_with_groups(cap=3)
    async with (
        serve(emulator.make_app()) as url,
        open_backend(
            "zoho", api_domain=url, access_token="test-token", max_concurrency=3
        ) as source,
    ):
        result = await plan(source, MemoryBackend())
    assert emulator.stats.peak_in_flight == 3 and emulator.stats.capped == 0
    assert len(result.operations) == COUNT


class SlowMemory(MemoryBackend):
    """A memory backend whose reads take a while; counts the reads running at once, and fails
    the read of ``failing`` with ``error``."""

    def __init__(self, failing: str | None = None, error: Exception | None = None) -> None:
        super().__init__()
        self.failing, self.error = failing, error
        self.in_flight = self.peak = self.finished = 0

    async def get(self, group_id: str) -> Group:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.001 if group_id == self.failing else 0.05)
            if group_id == self.failing and self.error is not None:
                raise self.error
            group = await super().get(group_id)
            self.finished += 1
            return group
        finally:
            self.in_flight -= 1


async def test_a_backend_without_a_throttle_is_read_eight_at_a_time() -> None:
    target = SlowMemory()
    for n in range(20):
        await target.create(Group(name=f"group {n:02d}"))
    await plan(await source_of(20), target)
    assert target.peak == 8 and target.finished == 20


async def test_the_first_error_ends_the_plan_with_that_error_and_no_task_is_left() -> None:
    error = NotFoundError("group 3 was deleted meanwhile", backend="memory", status=404)
    target = SlowMemory(failing="3", error=error)
    for n in range(COUNT):
        await target.create(Group(name=f"group {n:02d}"))
    before = asyncio.all_tasks()
    with pytest.raises(NotFoundError) as info:
        await plan(await source_of(COUNT), target)
    assert info.value is error
    assert asyncio.all_tasks() == before  # every reader was cancelled and awaited
    assert target.in_flight == 0 and target.finished < COUNT - 1
