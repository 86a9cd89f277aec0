from collections.abc import AsyncIterator

import pytest

from unigroups import DuplicateGroupError, Group, GroupBackend, GroupChanges, Member, open_backend
from unigroups.backends.memory import MemoryBackend
from unigroups.testing.contract import GroupBackendContract


class TestMemoryContract(GroupBackendContract):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[GroupBackend]:
        async with open_backend("memory", page_size=2) as backend:
            yield backend


async def test_names_are_unique_without_regard_to_case() -> None:
    backend = MemoryBackend()
    await backend.create(Group(name="Sales"))
    with pytest.raises(DuplicateGroupError):
        await backend.create(Group(name="sALES"))


async def test_renaming_to_another_case_of_its_own_name_is_allowed() -> None:
    backend = MemoryBackend()
    created = await backend.create(Group(name="sales"))
    assert created.id
    updated = await backend.update(created.id, GroupChanges(name="Sales"))
    assert updated.name == "Sales"
    assert await backend.find("Sales") == updated
    assert await backend.find("sales") == updated  # one name, whatever its case


async def test_ids_are_strings_and_listing_leaves_members_unloaded() -> None:
    backend = MemoryBackend()
    created = await backend.create(Group(name="a", members=[Member("user", "7")]))
    assert created.id == "1"
    listed = [g async for g in backend.groups()]
    assert [(g.id, g.name, g.members) for g in listed] == [("1", "a", None)]


async def test_update_can_deactivate_and_listing_hides_it() -> None:
    backend = MemoryBackend()
    created = await backend.create(Group(name="a"))
    assert created.id
    await backend.update(created.id, GroupChanges(active=False))
    assert [g async for g in backend.groups()] == []
    assert [g.id async for g in backend.groups(include_inactive=True)] == [created.id]
