"""``SuperOfficeBackend``: SuperOffice user groups (``List/UserGroup/Items``), their members
(users whose primary or other groups hold them, ``GET /User``) and the user directory."""

from __future__ import annotations

import asyncio
import collections
import copy
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Final, TypeAlias

import attrs

from ...errors import PermissionDeniedError, UnsupportedOperationError, ValidationError
from ...http import Reply, Request, Transport, pages, path_segment
from ...models import Capabilities, Group, GroupChanges, Member, MemberKind, User
from ..base import BackendBase
from . import wire
from .auth import superoffice_auth
from .config import SuperOfficeConfig
from .membership import Memberships, primary_removal_error

__all__ = ["MemberKindError", "SuperOfficeBackend"]

ITEMS: Final = "/List/UserGroup/Items"

#: A listing's raw items by the name key of each (see ``find``).
NameIndex: TypeAlias = Mapping[str, Sequence[Any]]

USER_MANAGEMENT_REFUSED: Final = (
    "SuperOffice refused access to its users ({detail}): user management is not allowed for "
    "this tenant or application. In SuperOffice Online the User agent is not available by "
    "default and partner apps may not manage users; group membership cannot be read or "
    "changed without it. Open the backend with user_management=False to manage the groups "
    "without their members"
)


class MemberKindError(ValidationError, UnsupportedOperationError):
    """A member SuperOffice groups cannot hold (anything but a user): bad input, refused
    before any request, and a kind the capabilities rule out."""

    def __init__(self, message: str, *, field: str) -> None:
        ValidationError.__init__(self, message, field=field)
        self.capability = "member_kinds"


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

    A group's members are users: those whose primary group (``User.UserGroup``) or other
    groups (``User.OtherGroups``) hold it. Adding and removing changes other groups, one
    request per user; a primary member (``Member.primary``) cannot be removed. delete()
    marks a group deleted (it reads back with ``active`` False). It is a ``UserDirectory``.
    """

    name: str = "superoffice"
    transport: Transport
    config_class: ClassVar[type[SuperOfficeConfig]] = SuperOfficeConfig
    capabilities: Capabilities = Capabilities(
        member_kinds=frozenset({MemberKind.USER}),
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
        if not config.user_management:  # no User entity: groups without their members
            self.capabilities = attrs.evolve(self.capabilities, member_kinds=frozenset())

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
            what = "UserGroup" if field == "group_id" else "user (associate)"
            raise ValidationError(f"{checked} is not an int32 {what} id", field=field)
        return checked

    def check_new_group(self, group: Group) -> None:
        if isinstance(group, Group):
            self._check_members(group.members or ())
        super().check_new_group(group)

    def check_changes(self, group_id: object, changes: GroupChanges) -> str:
        if isinstance(changes, GroupChanges):
            self._check_members((*changes.add, *changes.remove))
        checked = super().check_changes(group_id, changes)
        primary = next((m for m in changes.remove if m.primary), None)
        if primary is not None:
            raise primary_removal_error(primary.id, int(checked))
        return checked

    def _check_members(self, members: Iterable[Member]) -> None:
        if not self.capabilities.members:
            return  # the capabilities' own check refuses any member
        for member in members:
            if member.kind is not MemberKind.USER:
                raise MemberKindError(
                    f"SuperOffice groups hold users only, not a {member.kind.value} "
                    f"({member.id!r})",
                    field="members",
                )
            self.check_id(member.id, field="members")

    @property
    def _memberships(self) -> Memberships:
        # Built per use: a with_locale() view sends its own headers.
        return Memberships(self._send_user, self.name)

    async def _send_user(self, request: Request) -> Reply:
        """A request to the users endpoint; a 403 there says user management is refused."""
        request = attrs.evolve(request, headers=self.locale.headers())
        try:
            return await self.transport.send(request)
        except PermissionDeniedError as exc:
            message = USER_MANAGEMENT_REFUSED.format(detail=f"HTTP 403: {exc.message}")
            raise PermissionDeniedError(
                message, backend=self.name, status=exc.status, code=exc.code, raw=exc.raw
            ) from exc

    def _user_pages(self, filter: str | None, what: str) -> AsyncIterator[list[Any]]:
        """``GET /User`` a page at a time (raw rows): ``$top`` rows from ``$skip``, the rows
        read so far (a server that caps pages below ``$top`` loses none). Once the server
        has sent an ``odata.nextLink``, its absence ends the listing; before, a full page
        asks for one more."""
        top, skip, links = self.config.user_page_size, 0, False

        async def fetch(_page: int) -> tuple[list[Any], bool]:
            nonlocal skip, links
            query = wire.users_query(filter=filter, top=top, skip=skip)
            reply = await self._send_user(Request("GET", wire.USERS, query=query))
            rows, more = wire.users_page(reply.data)
            skip, links = skip + len(rows), links or more
            return rows, more or (not links and len(rows) >= top)

        return pages(fetch, backend=self.name, max_pages=self.config.max_pages, what=what)

    async def _call(self, method: str, path: str = "", **fields: Any) -> Reply:
        request = Request(method, f"{ITEMS}{path}", headers=self.locale.headers(), **fields)
        return await self.transport.send(request)

    # -- GroupBackend ---------------------------------------------------------------------

    async def create(self, group: Group) -> Group:
        """Create the group, then add each member (one request per user). Every user is
        read first: an unknown one stops the call before the group exists."""
        self.check_new_group(group)
        wanted = group.members or ()
        user_ids = [m.id for m in wanted]
        users = await self._memberships.read_all(user_ids) if user_ids else {}
        body = wire.carrier_for(attrs.evolve(group, id=None))
        reply = await self._call("POST", body=body)
        created = wire.group_from_carrier(reply.data)
        if user_ids:
            assert created.id is not None
            await self._memberships.write(
                int(created.id), add=user_ids, remove=(), users=users, written_before=True
            )
        return attrs.evolve(created, members=tuple(attrs.evolve(m, primary=False) for m in wanted))

    async def get(self, group_id: str) -> Group:
        reply = await self._call("GET", f"/{path_segment(self.check_id(group_id))}")
        return await self._with_members(wire.group_from_carrier(reply.data))

    async def groups(self, *, include_inactive: bool = False) -> AsyncIterator[Group]:
        # The list endpoint has no paging: one answer holds every group.
        params = {"includeDeleted": "true" if include_inactive else "false"}
        reply = await self._call("GET", query=params)
        for group in wire.groups_from_list(reply.data):
            yield group

    async def members(self, group_id: str) -> AsyncIterator[Member]:
        """The users whose primary group (``primary`` True) or other groups hold the group."""
        number = int(self.check_id(group_id))
        if not self.capabilities.members:
            raise UnsupportedOperationError(
                "this backend was opened with user_management=False: SuperOffice keeps group "
                "membership on users (User.UserGroup and OtherGroups)",
                capability="member_kinds",
            )
        async for rows in self._user_pages(wire.members_filter(number), "group's members"):
            for row in rows:
                yield wire.member_from_row(row, number)

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
        """Change the group's fields (PUT of its carrier), then its members (a PATCH of each
        user's other groups). The group and every user named are read before anything is
        written: an unknown one, or a removal from a user's primary group, changes nothing."""
        self.check_changes(group_id, changes)
        path = f"/{path_segment(group_id)}"
        current = wire.group_from_carrier((await self._call("GET", path)).data)
        add, remove = [m.id for m in changes.add], [m.id for m in changes.remove]
        users = await self._memberships.read_all([*add, *remove]) if add or remove else {}
        number = int(group_id)
        self._memberships.refuse_primary_removals(number, remove, users)
        fields = attrs.evolve(changes, add=(), remove=())
        if fields:
            # PUT replaces the whole carrier, so start from what the group holds now.
            body = wire.carrier_for(fields.apply_to(current))
            current = wire.group_from_carrier((await self._call("PUT", path, body=body)).data)
        if add or remove:
            await self._memberships.write(
                number, add=add, remove=remove, users=users, written_before=bool(fields)
            )
        return await self._with_members(current)

    async def _with_members(self, group: Group) -> Group:
        """``group`` with its members read (none, without user management)."""
        if not self.capabilities.members or group.id is None:
            return attrs.evolve(group, members=())
        return attrs.evolve(group, members=[m async for m in self.members(group.id)])

    async def delete(self, group_id: str) -> None:
        # SuperOffice marks the group deleted; it stays readable with Deleted = true.
        await self._call("DELETE", f"/{path_segment(self.check_id(group_id))}")

    # -- UserDirectory ----------------------------------------------------------------------

    async def users(self, *, include_inactive: bool = False) -> AsyncIterator[User]:
        async for rows in self._user_pages(None, "users"):
            for row in rows:
                user = wire.user_from_row(row)
                if include_inactive or user.active:
                    yield user

    async def get_user(self, user_id: str) -> User:
        read = await self._memberships.read(self.check_id(user_id, field="user_id"))
        return wire.user_from_entity(read.entity, read.raw)

    async def user_groups(self, user_id: str) -> AsyncIterator[Group]:
        """The user's primary group first, then its other groups (members not loaded)."""
        read = await self._memberships.read(self.check_id(user_id, field="user_id"))
        for group in wire.groups_of(read.entity):
            yield group
