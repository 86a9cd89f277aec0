"""``MemoryBackend``: the reference implementation of GroupBackend, held in a dict.

Every capability is on, so it is what the contract suite, the docs and user tests run against
when no vendor is needed. Names are unique under ``capabilities.name_key``: without regard to
case, as at the vendors (a subclass may set ``names_case_sensitive``). It is a
``UserDirectory`` too: users given with :meth:`MemoryBackend.add_user`, and the groups that
hold them as ``user`` members.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import ClassVar

import attrs

from ..errors import DuplicateGroupError, NotFoundError, ValidationError
from ..models import Capabilities, Group, GroupChanges, Member, MemberKind, User
from ..options import positive
from .base import BackendBase

__all__ = ["MemoryBackend", "MemoryConfig"]


@attrs.frozen
class MemoryConfig:
    page_size: int = attrs.field(default=100, validator=positive)


class MemoryBackend(BackendBase):
    name: str = "memory"
    config_class: ClassVar[type[MemoryConfig]] = MemoryConfig
    capabilities: Capabilities = Capabilities(
        member_kinds=frozenset(MemberKind),
        subordinates=True,
        hard_delete=True,
        rank=True,
        name_max_length=None,
        description_max_length=None,
        max_batch=1,
    )

    def __init__(self, config: MemoryConfig | None = None) -> None:
        self.config = config or MemoryConfig()
        self._groups: dict[str, Group] = {}
        self._by_name: dict[str, str] = {}  # capabilities.name_key(name) -> id
        self._ids = itertools.count(1)
        self._users: dict[str, User] = {}

    def __repr__(self) -> str:
        return f"MemoryBackend(groups={len(self._groups)})"

    def _stored(self, group_id: str) -> Group:
        self.check_id(group_id)
        try:
            return self._groups[group_id]
        except KeyError:
            raise NotFoundError(
                f"no group with id {group_id!r}", backend=self.name, status=404
            ) from None

    def _claim_name(self, name: str, group_id: str) -> None:
        key = self.capabilities.name_key(name)
        owner = self._by_name.get(key)
        if owner is not None and owner != group_id:
            raise DuplicateGroupError(
                f"a group named {name!r} exists already (id {owner})",
                backend=self.name,
                code="DUPLICATE_DATA",
            )
        self._by_name[key] = group_id

    async def create(self, group: Group) -> Group:
        self.check_new_group(group)
        await asyncio.sleep(0)  # a real backend yields here; concurrent callers interleave
        group_id = str(next(self._ids))
        self._claim_name(group.name, group_id)
        now = datetime.now(UTC)
        stored = attrs.evolve(
            group,
            id=group_id,
            members=group.members or (),
            created_at=now,
            modified_at=now,
            backend=self.name,
            raw={},
        )
        self._groups[group_id] = stored
        return stored

    async def get(self, group_id: str) -> Group:
        await asyncio.sleep(0)
        return self._stored(group_id)

    async def groups(self, *, include_inactive: bool = False) -> AsyncIterator[Group]:
        after = 0
        while True:
            await asyncio.sleep(0)  # one "page" at a time
            page = sorted((int(i), g) for i, g in self._groups.items() if int(i) > after)[
                : self.config.page_size
            ]
            for _, group in page:
                if group.active or include_inactive:
                    yield attrs.evolve(group, members=None)
            if len(page) < self.config.page_size:
                return
            after = page[-1][0]

    async def members(self, group_id: str) -> AsyncIterator[Member]:
        group = await self.get(group_id)
        for member in group.members or ():
            yield member

    async def find(self, name: str) -> Group | None:
        await asyncio.sleep(0)
        group_id = self._by_name.get(self.capabilities.name_key(name))
        return None if group_id is None else self._groups[group_id]

    async def update(self, group_id: str, changes: GroupChanges) -> Group:
        self.check_changes(group_id, changes)
        await asyncio.sleep(0)
        current = self._stored(group_id)
        updated = changes.apply_to(current)
        name_key = self.capabilities.name_key
        if name_key(updated.name) != name_key(current.name):
            self._claim_name(updated.name, group_id)
            del self._by_name[name_key(current.name)]
        updated = attrs.evolve(updated, modified_at=datetime.now(UTC))
        self._groups[group_id] = updated
        return updated

    async def delete(self, group_id: str) -> None:
        await asyncio.sleep(0)
        group = self._stored(group_id)
        del self._groups[group_id]
        del self._by_name[self.capabilities.name_key(group.name)]

    # -- UserDirectory ------------------------------------------------------------------------

    def add_user(self, user: User) -> User:
        """Put ``user`` in the directory (replacing one with its id); returns it as held."""
        if not isinstance(user, User):
            raise ValidationError(f"must be a User, not {type(user).__name__}", field="user")
        self.check_id(user.id, field="user_id")
        held = attrs.evolve(user, backend=self.name)
        self._users[user.id] = held
        return held

    async def users(self, *, include_inactive: bool = False) -> AsyncIterator[User]:
        for user in list(self._users.values()):
            await asyncio.sleep(0)
            if user.active or include_inactive:
                yield user

    async def get_user(self, user_id: str) -> User:
        await asyncio.sleep(0)
        self.check_id(user_id, field="user_id")
        try:
            return self._users[user_id]
        except KeyError:
            raise NotFoundError(
                f"no user with id {user_id!r}", backend=self.name, status=404
            ) from None

    async def user_groups(self, user_id: str) -> AsyncIterator[Group]:
        self.check_id(user_id, field="user_id")
        wanted = (MemberKind.USER, user_id)
        for group in list(self._groups.values()):
            await asyncio.sleep(0)
            if any(m.key == wanted for m in group.members or ()):
                yield attrs.evolve(group, members=None)
