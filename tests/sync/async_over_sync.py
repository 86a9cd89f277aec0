"""The blocking facade presented as an async backend, so the contract suite (written once,
async) checks it: every call goes through a ``SyncBackend`` method, run in a worker thread of
the test's event loop, as an async application would call blocking code."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Self, TypeVar

from unigroups import Group, GroupChanges, Member, User
from unigroups.sync import SyncBackend, SyncDirectoryBackend

T = TypeVar("T")
_END = object()


class AsyncOverSync:
    def __init__(self, facade: SyncBackend) -> None:
        self.facade = facade
        self.name = facade.name
        self.capabilities = facade.capabilities

    async def _listing(self, start: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        items = await asyncio.to_thread(start)
        try:
            while (item := await asyncio.to_thread(next, items, _END)) is not _END:
                yield item  # type: ignore[misc]
        finally:
            await asyncio.to_thread(items.close)  # type: ignore[attr-defined]

    async def create(self, group: Group) -> Group:
        return await asyncio.to_thread(self.facade.create, group)

    async def get(self, group_id: str) -> Group:
        return await asyncio.to_thread(self.facade.get, group_id)

    def groups(self, *, include_inactive: bool = False) -> AsyncIterator[Group]:
        return self._listing(
            functools.partial(self.facade.groups, include_inactive=include_inactive)
        )

    def members(self, group_id: str) -> AsyncIterator[Member]:
        return self._listing(functools.partial(self.facade.members, group_id))

    async def find(self, name: str) -> Group | None:
        return await asyncio.to_thread(self.facade.find, name)

    async def update(self, group_id: str, changes: GroupChanges) -> Group:
        return await asyncio.to_thread(self.facade.update, group_id, changes)

    async def delete(self, group_id: str) -> None:
        await asyncio.to_thread(self.facade.delete, group_id)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.facade.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class AsyncOverSyncDirectory(AsyncOverSync):
    facade: SyncDirectoryBackend

    def users(self, *, include_inactive: bool = False) -> AsyncIterator[User]:
        return self._listing(
            functools.partial(self.facade.users, include_inactive=include_inactive)
        )

    async def get_user(self, user_id: str) -> User:
        return await asyncio.to_thread(self.facade.get_user, user_id)

    def user_groups(self, user_id: str) -> AsyncIterator[Group]:
        return self._listing(functools.partial(self.facade.user_groups, user_id))


def as_async(facade: SyncBackend) -> AsyncOverSync:
    if isinstance(facade, SyncDirectoryBackend):
        return AsyncOverSyncDirectory(facade)
    return AsyncOverSync(facade)
