"""The contract suite: what every GroupBackend must do, written once against the protocol.

Use it by subclassing :class:`GroupBackendContract` in a test module and giving it a
``backend`` fixture that yields a fresh backend::

    from unigroups.testing.contract import GroupBackendContract

    class TestMyBackend(GroupBackendContract):
        @pytest.fixture
        async def backend(self):
            async with MyBackend(...) as backend:
                yield backend

Checks that a backend's capabilities rule out are skipped (``requires``), as in SQLAlchemy's
dialect suite; the user directory checks run when the backend is a ``UserDirectory`` and its
directory holds users (give the fixture some), and skip otherwise. Nothing here reaches into
a backend's internals; a backend whose ids or member ids look special overrides
:meth:`GroupBackendContract.member_id`, ``unknown_id`` or ``unknown_user_id``.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from ..errors import (
    DuplicateGroupError,
    NotFoundError,
    UnsupportedOperationError,
    ValidationError,
)
from ..models import Capabilities, Group, GroupChanges, Member, MemberKind, User
from ..protocol import GroupBackend, UserDirectory

__all__ = ["GroupBackendContract", "requires"]

F = TypeVar("F", bound=Callable[..., Awaitable[None]])


def requires(*needs: str) -> Callable[[F], F]:
    """Skip the check unless the backend's capabilities have every one of ``needs``.

    A need is a Capabilities attribute name (``hard_delete``, ``rank``, ``subordinates``),
    ``members`` (any member kind), ``soft_delete`` (not hard_delete), ``missing_kind``
    (some member kind is not supported) or ``user_directory`` (the backend is a
    :class:`~unigroups.UserDirectory`).
    """

    def decorate(test: F) -> F:
        @functools.wraps(test)
        async def run(self: GroupBackendContract, *args: Any, **kwargs: Any) -> None:
            backend = kwargs["backend"]
            for need in needs:
                if not _has(backend, need):
                    pytest.skip(f"backend capabilities rule out {need!r}")
            await test(self, *args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


def _has(backend: Any, need: str) -> bool:
    if need == "user_directory":
        return isinstance(backend, UserDirectory)
    caps: Capabilities = backend.capabilities
    if need == "soft_delete":
        return not caps.hard_delete
    if need == "missing_kind":
        return caps.member_kinds != frozenset(MemberKind)
    return bool(getattr(caps, need))


def _directory(backend: object) -> UserDirectory:
    assert isinstance(backend, UserDirectory)  # requires("user_directory") saw to it
    return backend


async def _collect(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


class GroupBackendContract:
    """Subclass as ``Test...`` and provide a ``backend`` fixture."""

    #: An id in the vendor's format that no group has.
    unknown_id: str = "2147480001"
    #: An id in the vendor's format that no user has (directory checks).
    unknown_user_id: str = "2147480002"

    def member_id(self, kind: MemberKind, n: int) -> str:
        """An id of an existing ``kind`` at the vendor; override where ids must be real."""
        return str(3652397000000186000 + 1000 * list(MemberKind).index(kind) + n)

    def new_name(self, label: str = "group") -> str:
        return f"contract {label} {uuid.uuid4().hex[:12]}"

    def sample_members(self, caps: Capabilities, count: int = 1) -> tuple[Member, ...]:
        members = []
        for kind in sorted(caps.member_kinds):
            hierarchical = kind in (MemberKind.ROLE, MemberKind.TERRITORY)
            for n in range(count):
                members.append(
                    Member(
                        kind,
                        self.member_id(kind, n),
                        include_subordinates=hierarchical and caps.subordinates and n == 0,
                    )
                )
        return tuple(members)

    # -- create / get -----------------------------------------------------------------------

    async def test_create_then_get_round_trips(self, backend: GroupBackend) -> None:
        caps = backend.capabilities
        wanted = Group(
            name=self.new_name(),
            description="made by the contract suite",
            members=self.sample_members(caps),
        )
        created = await backend.create(wanted)
        assert isinstance(created.id, str) and created.id
        assert created.name == wanted.name
        assert created.description == wanted.description
        assert created.active is True
        fetched = await backend.get(created.id)
        assert fetched.id == created.id
        assert fetched.name == wanted.name
        assert fetched.description == wanted.description
        assert set(fetched.members or ()) == set(wanted.members or ())

    async def test_create_without_description_or_members(self, backend: GroupBackend) -> None:
        created = await backend.create(Group(name=self.new_name("bare")))
        assert created.id
        fetched = await backend.get(created.id)
        assert fetched.description in (None, "")
        assert set(fetched.members or ()) == set()

    @requires("members")
    async def test_members_lists_what_get_holds(self, backend: GroupBackend) -> None:
        members = self.sample_members(backend.capabilities, count=2)
        created = await backend.create(Group(name=self.new_name(), members=members))
        assert created.id
        listed = await _collect(backend.members(created.id))
        assert set(listed) == set(members)

    @requires("rank")
    async def test_rank_round_trips(self, backend: GroupBackend) -> None:
        created = await backend.create(Group(name=self.new_name("ranked"), rank=7))
        assert created.id
        assert (await backend.get(created.id)).rank == 7
        updated = await backend.update(created.id, GroupChanges(rank=3))
        assert updated.rank == 3

    # -- listing and finding ----------------------------------------------------------------

    async def test_groups_lists_created_groups_once(self, backend: GroupBackend) -> None:
        names = {self.new_name(f"listed {i}") for i in range(5)}
        for name in names:
            await backend.create(Group(name=name))
        seen = [g async for g in backend.groups()]
        ids = [g.id for g in seen]
        assert len(ids) == len(set(ids)), "a group was listed twice"
        assert names <= {g.name for g in seen}

    async def test_groups_is_lazy_and_can_stop_early(self, backend: GroupBackend) -> None:
        for i in range(3):
            await backend.create(Group(name=self.new_name(f"lazy {i}")))
        iterator = backend.groups()
        assert hasattr(iterator, "__anext__"), "groups() must return an async iterator"
        first = await iterator.__anext__()
        assert isinstance(first, Group)
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()

    async def test_find_matches_the_exact_name_only(self, backend: GroupBackend) -> None:
        name = self.new_name("find")
        created = await backend.create(Group(name=name))
        await backend.create(Group(name=name + "0"))
        found = await backend.find(name)
        assert found is not None
        assert found.id == created.id
        assert found.name == name
        assert await backend.find(name[:-1]) is None
        assert await backend.find(self.new_name("absent")) is None

    # -- errors -----------------------------------------------------------------------------

    async def test_duplicate_name_raises(self, backend: GroupBackend) -> None:
        name = self.new_name("dup")
        await backend.create(Group(name=name))
        with pytest.raises(DuplicateGroupError):
            await backend.create(Group(name=name))

    async def test_unknown_id_raises_not_found(self, backend: GroupBackend) -> None:
        with pytest.raises(NotFoundError):
            await backend.get(self.unknown_id)
        with pytest.raises(NotFoundError):
            await backend.update(self.unknown_id, GroupChanges(description="x"))
        with pytest.raises(NotFoundError):
            await backend.delete(self.unknown_id)

    async def test_malformed_id_raises_before_sending(self, backend: GroupBackend) -> None:
        for bad in ("../1", "1/2", "1%2F2", " 1", "1\n", ""):
            with pytest.raises(ValidationError):
                await backend.get(bad)

    @requires("missing_kind")
    async def test_unsupported_member_kind_raises_before_any_request(
        self, backend: GroupBackend
    ) -> None:
        kind = sorted(set(MemberKind) - backend.capabilities.member_kinds)[0]
        name = self.new_name("unsupported")
        with pytest.raises(UnsupportedOperationError):
            await backend.create(Group(name=name, members=(Member(kind, self.member_id(kind, 0)),)))
        assert await backend.find(name) is None

    async def test_overlong_name_raises_before_any_request(self, backend: GroupBackend) -> None:
        limit = backend.capabilities.name_max_length
        if limit is None:
            pytest.skip("backend has no name length limit")
        name = "n" * (limit + 1)
        with pytest.raises(ValidationError) as info:
            await backend.create(Group(name=name))
        assert info.value.field == "name"
        assert await backend.find(name) is None

    # -- update -----------------------------------------------------------------------------

    async def test_update_renames_and_changes_description(self, backend: GroupBackend) -> None:
        created = await backend.create(Group(name=self.new_name(), description="before"))
        assert created.id
        new_name = self.new_name("renamed")
        updated = await backend.update(created.id, GroupChanges(name=new_name, description="after"))
        assert (updated.id, updated.name, updated.description) == (created.id, new_name, "after")
        fetched = await backend.get(created.id)
        assert (fetched.name, fetched.description) == (new_name, "after")
        assert await backend.find(new_name) is not None

    async def test_update_to_a_taken_name_raises(self, backend: GroupBackend) -> None:
        taken = await backend.create(Group(name=self.new_name("taken")))
        other = await backend.create(Group(name=self.new_name("other")))
        assert other.id
        with pytest.raises(DuplicateGroupError):
            await backend.update(other.id, GroupChanges(name=taken.name))

    @requires("members")
    async def test_update_adds_and_removes_members(self, backend: GroupBackend) -> None:
        first, second, *rest = self.sample_members(backend.capabilities, count=2)
        created = await backend.create(Group(name=self.new_name(), members=(first,)))
        assert created.id
        added = await backend.update(created.id, GroupChanges(add=(second,)))
        assert set(added.members or ()) == {first, second}
        again = await backend.update(created.id, GroupChanges(add=(second,)))
        assert set(again.members or ()) == {first, second}, "adding twice changed something"
        removed = await backend.update(created.id, GroupChanges(remove=(first,)))
        assert set(removed.members or ()) == {second}
        absent = rest[0] if rest else Member(first.kind, self.member_id(first.kind, 9))
        still = await backend.update(created.id, GroupChanges(remove=(absent,)))
        assert set(still.members or ()) == {second}, "removing an absent member changed something"
        assert set((await backend.get(created.id)).members or ()) == {second}

    # -- delete -----------------------------------------------------------------------------

    @requires("hard_delete")
    async def test_hard_delete_removes_the_group(self, backend: GroupBackend) -> None:
        created = await backend.create(Group(name=self.new_name("doomed")))
        assert created.id
        await backend.delete(created.id)
        with pytest.raises(NotFoundError):
            await backend.get(created.id)
        assert created.id not in {g.id async for g in backend.groups(include_inactive=True)}

    @requires("soft_delete")
    async def test_soft_delete_deactivates_the_group(self, backend: GroupBackend) -> None:
        created = await backend.create(Group(name=self.new_name("retired")))
        assert created.id
        await backend.delete(created.id)
        assert (await backend.get(created.id)).active is False
        assert created.id not in {g.id async for g in backend.groups()}
        hidden = {g.id: g for g in [g async for g in backend.groups(include_inactive=True)]}
        assert hidden[created.id].active is False

    # -- concurrency ------------------------------------------------------------------------

    async def test_fifty_concurrent_creates_all_succeed(self, backend: GroupBackend) -> None:
        names = [self.new_name(f"burst {i}") for i in range(50)]
        created = await asyncio.gather(*(backend.create(Group(name=n)) for n in names))
        assert sorted(g.name for g in created) == sorted(names)
        assert len({g.id for g in created}) == 50
        listed = {g.name async for g in backend.groups()}
        assert set(names) <= listed

    # -- user directory (backends that are a UserDirectory) ---------------------------------

    async def known_users(self, backend: object) -> list[User]:
        """The directory's active users; the check is skipped when it holds none."""
        users = await _collect(_directory(backend).users())
        if not users:
            pytest.skip("the backend's directory holds no users: give the fixture some")
        return users

    @requires("user_directory")
    async def test_directory_lists_users_once(self, backend: GroupBackend) -> None:
        users = await self.known_users(backend)
        assert all(isinstance(u, User) for u in users)
        assert len({u.id for u in users}) == len(users), "a user was listed twice"
        assert all(u.active for u in users), "users() listed an inactive user"
        for user in users:
            assert user.email is None or user.email == user.email.lower()
        everyone = await _collect(_directory(backend).users(include_inactive=True))
        assert {u.id for u in users} <= {u.id for u in everyone}

    @requires("user_directory")
    async def test_directory_get_user_reads_what_users_lists(self, backend: GroupBackend) -> None:
        listed = (await self.known_users(backend))[0]
        fetched = await _directory(backend).get_user(listed.id)
        assert fetched == listed

    @requires("user_directory")
    async def test_directory_unknown_user_raises_not_found(self, backend: GroupBackend) -> None:
        directory = _directory(backend)
        with pytest.raises(NotFoundError):
            await directory.get_user(self.unknown_user_id)
        with pytest.raises(ValidationError):
            await directory.get_user("../1")

    @requires("user_directory")
    async def test_directory_user_groups_lists_the_groups_holding_the_user(
        self, backend: GroupBackend
    ) -> None:
        if MemberKind.USER not in backend.capabilities.member_kinds:
            pytest.skip("backend capabilities rule out 'user' members")
        user = (await self.known_users(backend))[0]
        holding = await backend.create(
            Group(name=self.new_name("holds user"), members=(Member(MemberKind.USER, user.id),))
        )
        other = await backend.create(Group(name=self.new_name("without user")))
        listed = await _collect(_directory(backend).user_groups(user.id))
        assert all(isinstance(g, Group) for g in listed)
        ids = [g.id for g in listed]
        assert holding.id in ids
        assert other.id not in ids
        assert len(ids) == len(set(ids)), "a group was listed twice"
