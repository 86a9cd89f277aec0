"""``GroupBackend``: the one interface every vendor backend implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, Self, runtime_checkable

from .models import Capabilities, Group, GroupChanges, Member, User

__all__ = ["GroupBackend", "UserDirectory"]


@runtime_checkable
class GroupBackend(Protocol):
    """A vendor's user groups, behind one async interface.

    A backend handed an ``aiohttp.ClientSession`` uses it and never closes it; otherwise it
    owns one session for its lifetime and closes it in :meth:`aclose`.
    """

    name: str
    capabilities: Capabilities

    async def create(self, group: Group) -> Group:
        """Create ``group`` and return it as the vendor stored it (with its id)."""
        ...

    async def get(self, group_id: str) -> Group:
        """The group with its members loaded; :class:`NotFoundError` if there is none."""
        ...

    def groups(self, *, include_inactive: bool = False) -> AsyncIterator[Group]:
        """Every group, fetched lazily page by page (members not loaded)."""
        ...

    def members(self, group_id: str) -> AsyncIterator[Member]:
        """The members of one group, fetched lazily."""
        ...

    async def find(self, name: str) -> Group | None:
        """The group with exactly this name, or None (names are unique per vendor)."""
        ...

    async def update(self, group_id: str, changes: GroupChanges) -> Group:
        """Apply ``changes`` and return the group as it now reads."""
        ...

    async def delete(self, group_id: str) -> None:
        """Delete the group (deactivate it where ``capabilities.hard_delete`` is False)."""
        ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: Any) -> None: ...


@runtime_checkable
class UserDirectory(Protocol):
    """The people a vendor's ``user`` members point at, for backends that can list them.

    Implemented beside :class:`GroupBackend` (memory, zoho, superoffice); check with
    ``isinstance(backend, UserDirectory)``.
    """

    def users(self, *, include_inactive: bool = False) -> AsyncIterator[User]:
        """Every user (active ones only unless ``include_inactive``), fetched lazily."""
        ...

    async def get_user(self, user_id: str) -> User:
        """The user with this id; :class:`NotFoundError` if there is none."""
        ...

    def user_groups(self, user_id: str) -> AsyncIterator[Group]:
        """The groups that hold this user as a member (members not loaded)."""
        ...
