from collections.abc import AsyncIterator

import pytest

from unigroups import (
    DuplicateGroupError,
    Group,
    GroupBackend,
    GroupChanges,
    Member,
    NotFoundError,
    User,
    UserDirectory,
    ValidationError,
    open_backend,
)
from unigroups.backends.memory import MemoryBackend
from unigroups.testing.contract import GroupBackendContract


class TestMemoryContract(GroupBackendContract):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[GroupBackend]:
        async with open_backend("memory", page_size=2) as backend:
            assert isinstance(backend, MemoryBackend)
            backend.add_user(User("101", "Ada Lovelace", "Ada@Example.com"))
            backend.add_user(User("102", "Retired", "old@example.com", active=False))
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


async def test_directory_holds_the_users_given() -> None:
    backend = MemoryBackend()
    assert isinstance(backend, UserDirectory)
    held = backend.add_user(User("7", "Ada", "ADA@example.COM"))
    backend.add_user(User("8", "Bob", active=False))
    assert held == User("7", "Ada", "ada@example.com", backend="memory")
    assert [u.id async for u in backend.users()] == ["7"]
    assert [u.id async for u in backend.users(include_inactive=True)] == ["7", "8"]
    assert await backend.get_user("7") == held
    with pytest.raises(NotFoundError):
        await backend.get_user("9")
    with pytest.raises(ValidationError):
        await backend.get_user("a/b")
    with pytest.raises(ValidationError):
        backend.add_user({"id": "7"})  # type: ignore[arg-type]


async def test_user_groups_are_the_groups_holding_the_user_as_a_user_member() -> None:
    backend = MemoryBackend()
    backend.add_user(User("7", "Ada"))
    holds = await backend.create(Group(name="holds", members=[Member("user", "7")]))
    await backend.create(Group(name="role 7", members=[Member("role", "7")]))
    await backend.create(Group(name="empty"))
    listed = [g async for g in backend.user_groups("7")]
    assert [(g.id, g.name, g.members) for g in listed] == [(holds.id, "holds", None)]
    assert holds.id
    await backend.update(holds.id, GroupChanges(remove=[Member("user", "7")]))
    assert [g async for g in backend.user_groups("7")] == []
