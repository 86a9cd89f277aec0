"""A third-party backend written only against unigroups' public API.

It keeps groups in a dict, like a vendor with users and groups as members, no subordinates,
and soft delete: enough to show the contract suite adapting to capabilities.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Self

import attrs

from unigroups import (
    Capabilities,
    DuplicateGroupError,
    Group,
    GroupChanges,
    Member,
    NotFoundError,
    ValidationError,
)


@attrs.frozen
class ExampleConfig:
    """The backend's options, structured by unigroups from open_backend()'s keywords."""

    prefix: str = ""


class ExampleBackend:
    name: str = "example"
    config_class: ClassVar[type[ExampleConfig]] = ExampleConfig
    capabilities: ClassVar[Capabilities] = Capabilities(
        member_kinds=frozenset({"user", "group"}),
        subordinates=False,
        hard_delete=False,
        rank=False,
        name_max_length=80,
        description_max_length=200,
    )

    def __init__(self, config: ExampleConfig) -> None:
        self.config = config
        self._groups: dict[str, Group] = {}
        self._ids = itertools.count(1)

    def _check(self, group_id: str) -> Group:
        if not isinstance(group_id, str) or not group_id.isascii() or not group_id.isdigit():
            raise ValidationError(f"{group_id!r} is not an id", field="group_id")
        if group_id not in self._groups:
            raise NotFoundError(f"no group {group_id}", backend=self.name, status=404)
        return self._groups[group_id]

    def _check_name_free(self, name: str, group_id: str | None) -> None:
        for other in self._groups.values():
            if other.name.casefold() == name.casefold() and other.id != group_id:
                raise DuplicateGroupError(f"{name!r} is taken", backend=self.name)

    async def create(self, group: Group) -> Group:
        self.capabilities.check_group(group)
        await asyncio.sleep(0)
        self._check_name_free(group.name, None)
        stored = attrs.evolve(
            group, id=str(next(self._ids)), members=group.members or (), backend=self.name
        )
        self._groups[stored.id or ""] = stored
        return stored

    async def get(self, group_id: str) -> Group:
        return self._check(group_id)

    async def groups(self, *, include_inactive: bool = False) -> AsyncIterator[Group]:
        for group in list(self._groups.values()):
            await asyncio.sleep(0)
            if group.active or include_inactive:
                yield attrs.evolve(group, members=None)

    async def members(self, group_id: str) -> AsyncIterator[Member]:
        for member in self._check(group_id).members or ():
            yield member

    async def find(self, name: str) -> Group | None:
        return next((g for g in self._groups.values() if g.name == name), None)

    async def update(self, group_id: str, changes: GroupChanges) -> Group:
        self.capabilities.check_changes(changes)
        updated = changes.apply_to(self._check(group_id))
        self._check_name_free(updated.name, group_id)
        self._groups[group_id] = updated
        return updated

    async def delete(self, group_id: str) -> None:
        self._groups[group_id] = attrs.evolve(self._check(group_id), active=False)

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
