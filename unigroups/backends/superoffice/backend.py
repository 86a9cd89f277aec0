"""``SuperOfficeBackend``: SuperOffice user groups (``List/UserGroup/Items``)."""

from __future__ import annotations

import asyncio
import collections
import copy
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from typing import Any, ClassVar, Final, TypeAlias

import attrs

from ...errors import UnsupportedOperationError, ValidationError
from ...http import Reply, Request, Transport, path_segment
from ...models import Capabilities, Group, GroupChanges, Member
from ..base import BackendBase
from . import wire
from .auth import superoffice_auth
from .config import SuperOfficeConfig

__all__ = ["SuperOfficeBackend"]

ITEMS: Final = "/List/UserGroup/Items"

#: A listing's raw items by the name key of each (see ``find``).
NameIndex: TypeAlias = Mapping[str, Sequence[Any]]


class _SharedListing:
    """Look-ups by name that share listings of every group (SuperOffice has no name filter).

    A look-up never uses a listing sent before it was called: that one may have been answered
    before a group the caller created just now. Calls join the listing that has not been sent
    yet; it is sent as soon as the one in flight (if any) has ended, and serves every call that
    joined it. However many look-ups run at once, one listing is in flight and one gathers
    callers; a listing nobody waits for any more is cancelled.
    """

    def __init__(self, fetch: Callable[[], Coroutine[Any, Any, NameIndex]]) -> None:
        self._fetch = fetch
        self._running: asyncio.Task[NameIndex] | None = None  # may have been sent
        self._next: asyncio.Task[NameIndex] | None = None  # not sent yet: open to callers
        self._waiting: collections.Counter[asyncio.Task[NameIndex]] = collections.Counter()

    async def index(self) -> NameIndex:
        """The index of a listing sent after this call; its failure is every waiter's."""
        if self._next is None:
            running = self._running
            previous = running if running is not None and not running.done() else None
            self._next = asyncio.create_task(self._flight(previous))
        flight = self._next
        self._waiting[flight] += 1
        try:
            return await asyncio.shield(flight)
        finally:
            self._waiting[flight] -= 1
            if not self._waiting[flight]:
                del self._waiting[flight]
                if not flight.done():  # every waiter was cancelled
                    self._drop(flight)

    async def _flight(self, previous: asyncio.Task[NameIndex] | None) -> NameIndex:
        if previous is not None:
            await asyncio.wait([previous])  # its outcome is its own waiters'
        # From here on the listing may be on its way: later callers join the next one.
        self._running, self._next = self._next, None
        return await self._fetch()

    def _drop(self, flight: asyncio.Task[NameIndex]) -> None:
        flight.cancel()
        if self._running is flight:
            self._running = None
        if self._next is flight:
            self._next = None


class SuperOfficeBackend(BackendBase):
    """SuperOffice user groups. Open with ``open_backend("superoffice", ...)``.

    Membership lives on users in SuperOffice, so the capability ``member_kinds`` is empty and
    delete() marks a group deleted (it reads back with ``active`` False).
    """

    name: str = "superoffice"
    transport: Transport
    config_class: ClassVar[type[SuperOfficeConfig]] = SuperOfficeConfig
    capabilities: Capabilities = Capabilities(
        member_kinds=frozenset(),
        subordinates=False,
        hard_delete=False,
        rank=True,
        name_max_length=239,
        description_max_length=254,
        max_batch=1,
    )

    def __init__(self, config: SuperOfficeConfig) -> None:
        self.config = config
        self.locale = config.locale
        self.transport = config.make_transport(
            backend=self.name,
            base_url=config.api_base,
            parse_error=wire.parse_error,
            auth=lambda sender: superoffice_auth(config, sender),
            secrets=config.secrets,
        )
        self._owns_transport = True
        self._listings = _SharedListing(self._name_index)
        if config.names_case_sensitive:
            self.capabilities = attrs.evolve(self.capabilities, names_case_sensitive=True)

    def __repr__(self) -> str:
        return f"SuperOfficeBackend(base_url={self.transport.base_url!r}, locale={self.locale!r})"

    def identity(self) -> str:
        # The tenant is in the base URL; the user or OAuth client names the account.
        return self.config.username or self.config.client_id or ""

    def with_locale(self, **overrides: str | None) -> SuperOfficeBackend:
        """A view of this backend that sends other language, culture or time-zone headers.

        It shares the connection pool and credentials; closing it closes nothing.
        ``backend.with_locale(language="fr").get("5")`` overrides for one call.
        """
        unknown = set(overrides) - {"language", "culture", "timezone"}
        if unknown:
            raise ValidationError(
                f"with_locale takes language, culture and timezone, not {sorted(unknown)}",
                field=sorted(unknown)[0],
            )
        view = copy.copy(self)
        view.locale = attrs.evolve(self.locale, **overrides)
        view._owns_transport = False
        view._listings = _SharedListing(view._name_index)  # listings in its own headers
        return view

    async def aclose(self) -> None:
        if self._owns_transport:
            await self.transport.aclose()

    def check_id(self, group_id: object, field: str = "group_id") -> str:
        checked = super().check_id(group_id, field)
        if not 1 <= int(checked) <= wire.INT32_MAX:
            raise ValidationError(f"{checked} is not an int32 UserGroup id", field=field)
        return checked

    async def _call(self, method: str, path: str = "", **fields: Any) -> Reply:
        request = Request(method, f"{ITEMS}{path}", headers=self.locale.headers(), **fields)
        return await self.transport.send(request)

    # -- GroupBackend ---------------------------------------------------------------------

    async def create(self, group: Group) -> Group:
        self.check_new_group(group)
        body = wire.carrier_for(attrs.evolve(group, id=None))
        reply = await self._call("POST", body=body)
        return wire.group_from_carrier(reply.data)

    async def get(self, group_id: str) -> Group:
        reply = await self._call("GET", f"/{path_segment(self.check_id(group_id))}")
        return wire.group_from_carrier(reply.data)

    async def groups(self, *, include_inactive: bool = False) -> AsyncIterator[Group]:
        # The list endpoint has no paging: one answer holds every group.
        params = {"includeDeleted": "true" if include_inactive else "false"}
        reply = await self._call("GET", query=params)
        for group in wire.groups_from_list(reply.data):
            yield group

    async def members(self, group_id: str) -> AsyncIterator[Member]:
        raise UnsupportedOperationError(
            "SuperOffice keeps group membership on users (User.UserGroup and OtherGroups), "
            "not on the group",
            capability="member_kinds",
        )
        yield  # pragma: no cover - makes this an async generator

    async def find(self, name: str) -> Group | None:
        """The group holding ``name`` under ``capabilities.name_key``, deleted ones too (they
        keep their name in the unique index). Concurrent calls share listings."""
        key = self.capabilities.name_key
        wanted = key(name)
        candidates = (await self._listings.index()).get(wanted, ())
        found = [g for g in map(wire.group_from_carrier, candidates) if key(g.name) == wanted]
        # Several only when the vendor tells case apart while the options say it does not.
        return next((g for g in found if g.name == name), found[0] if found else None)

    async def _name_index(self) -> NameIndex:
        reply = await self._call("GET", query={"includeDeleted": "true"})
        return wire.items_by_name(reply.data, self.capabilities.name_key)

    async def update(self, group_id: str, changes: GroupChanges) -> Group:
        self.check_changes(group_id, changes)
        # PUT replaces the whole carrier, so start from what the group holds now.
        current = await self.get(group_id)
        wanted = changes.apply_to(current)
        reply = await self._call("PUT", f"/{path_segment(group_id)}", body=wire.carrier_for(wanted))
        return wire.group_from_carrier(reply.data)

    async def delete(self, group_id: str) -> None:
        # SuperOffice marks the group deleted; it stays readable with Deleted = true.
        await self._call("DELETE", f"/{path_segment(self.check_id(group_id))}")
