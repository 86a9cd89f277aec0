"""A backend running on one portal's loop, seen as an async backend from another loop.

A mirror between two blocking backends runs on the target's loop; the source's session and
throttle belong to the source's loop, so its calls are sent there and awaited from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ParamSpec, Self, TypeVar

from ..models import Capabilities, Group, GroupChanges, Member, User
from ..protocol import GroupBackend, UserDirectory
from ._portal import END, Portal

__all__ = ["remote_view"]

P = ParamSpec("P")
T = TypeVar("T")


def remote_view(backend: GroupBackend, portal: Portal) -> GroupBackend:
    """``backend`` (run by ``portal``) as an async backend usable from any other loop; a
    :class:`~unigroups.UserDirectory` too when it is one."""
    if isinstance(backend, UserDirectory):
        return _RemoteDirectory(backend, portal)
    return _RemoteBackend(backend, portal)


class _RemoteBackend:
    def __init__(self, backend: Any, portal: Portal) -> None:
        self._backend = backend
        self._portal = portal
        self.name: str = backend.name
        self.capabilities: Capabilities = backend.capabilities

    async def _call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.wrap_future(self._portal.submit(fn, *args, **kwargs))

    async def _listing(self, make: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        items = await self._call(self._portal.start_listing, make)
        try:
            while (item := await self._call(self._portal.next_item, items)) is not END:
                yield item
        finally:
            aclose = getattr(items, "aclose", None)
            if aclose is not None and not self._portal.closed:
                await self._call(aclose)

    async def create(self, group: Group) -> Group:
        return await self._call(self._backend.create, group)

    async def get(self, group_id: str) -> Group:
        return await self._call(self._backend.get, group_id)

    def groups(self, *, include_inactive: bool = False) -> AsyncIterator[Group]:
        return self._listing(lambda: self._backend.groups(include_inactive=include_inactive))

    def members(self, group_id: str) -> AsyncIterator[Member]:
        return self._listing(lambda: self._backend.members(group_id))

    async def find(self, name: str) -> Group | None:
        return await self._call(self._backend.find, name)

    async def update(self, group_id: str, changes: GroupChanges) -> Group:
        return await self._call(self._backend.update, group_id, changes)

    async def delete(self, group_id: str) -> None:
        await self._call(self._backend.delete, group_id)

    async def aclose(self) -> None:
        """Nothing: the facade that owns the backend closes it."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class _RemoteDirectory(_RemoteBackend):
    def users(self, *, include_inactive: bool = False) -> AsyncIterator[User]:
        return self._listing(lambda: self._backend.users(include_inactive=include_inactive))

    async def get_user(self, user_id: str) -> User:
        result: User = await self._call(self._backend.get_user, user_id)
        return result

    def user_groups(self, user_id: str) -> AsyncIterator[Group]:
        return self._listing(lambda: self._backend.user_groups(user_id))
