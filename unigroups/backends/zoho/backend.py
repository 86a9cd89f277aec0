"""``ZohoBackend``: Zoho CRM user groups (``/crm/{version}/settings/user_groups``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ClassVar, Final, TypeVar

import attrs

from ...errors import (
    BackendError,
    IncompleteWriteError,
    NotFoundError,
    TransportError,
    UnsupportedOperationError,
)
from ...http import Reply, Request, Transport, pages, path_segment
from ...models import UNSET, Capabilities, Group, GroupChanges, Member, MemberKind, Unset, User
from ..base import BackendBase
from . import wire
from .auth import zoho_auth
from .config import (
    DEFAULT_DESCRIPTION_MAX_LENGTH,
    DEFAULT_MAX_BATCH,
    DEFAULT_NAME_MAX_LENGTH,
    ZohoConfig,
)

__all__ = ["ZohoBackend"]

T = TypeVar("T")

PAGE_SIZE: Final = 200  # per_page maximum of the list, sources and users endpoints


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [items[:0]]


class ZohoBackend(BackendBase):
    """Zoho CRM user groups. Open with ``open_backend("zoho", ...)`` (see ZohoConfig)."""

    name: str = "zoho"
    transport: Transport
    config_class: ClassVar[type[ZohoConfig]] = ZohoConfig
    # The class default holds the defaults of the unconfirmed limits (ZohoConfig: Zoho
    # publishes no figure for lengths or groups per call); an instance holds its options'.
    capabilities: Capabilities = Capabilities(
        member_kinds=frozenset(MemberKind),
        subordinates=True,
        hard_delete=True,
        rank=False,
        name_max_length=DEFAULT_NAME_MAX_LENGTH,
        description_max_length=DEFAULT_DESCRIPTION_MAX_LENGTH,
        max_batch=DEFAULT_MAX_BATCH,
    )

    def __init__(self, config: ZohoConfig) -> None:
        self.config = config
        self.capabilities = attrs.evolve(
            self.capabilities,
            name_max_length=config.name_max_length,
            description_max_length=config.description_max_length,
            max_batch=config.max_batch,
            names_case_sensitive=config.names_case_sensitive,
        )
        self.transport = config.make_transport(
            backend=self.name,
            base_url=f"{config.api_base}/crm/{config.version}",
            parse_error=wire.parse_error,
            auth=lambda sender: zoho_auth(config, sender),
            secrets=config.secrets,
        )

    @property
    def _per_request(self) -> int:
        # How many sources[] items one request carries: unconfirmed, so an option.
        return self.config.sources_per_request

    def __repr__(self) -> str:
        return f"ZohoBackend(base_url={self.transport.base_url!r})"

    def identity(self) -> str:
        # Every org of a data centre shares its API domain; an OAuth client tells them apart
        # when one is configured (an access token alone names no org).
        return self.config.client_id or ""

    def check_new_group(self, group: Group) -> None:
        super().check_new_group(group)
        for member in group.members or ():
            self.check_id(member.id, field="members")

    def check_changes(self, group_id: object, changes: GroupChanges) -> str:
        checked = super().check_changes(group_id, changes)
        for member in (*changes.add, *changes.remove):
            self.check_id(member.id, field="members")
        return checked

    # -- requests -----------------------------------------------------------------------

    async def _call(self, method: str, path: str = "", **fields: Any) -> Reply:
        return await self.transport.send(Request(method, f"/settings/user_groups{path}", **fields))

    async def _send_groups(
        self, method: str, items: Sequence[dict[str, Any]], path: str = ""
    ) -> list[wire.ZohoAnswerEntry | BackendError]:
        """Send ``items`` in one call; one outcome per item, in order (partial success too)."""
        try:
            reply = await self._call(method, path, body=wire.request_body(items))
            status, data = reply.status, reply.data
        except BackendError as exc:
            # A 400 whose body lists an entry per item is a per-item answer, not one failure.
            if not wire.has_entries(exc.raw, len(items)):
                raise
            status, data = exc.status or 400, exc.raw
        outcomes: list[wire.ZohoAnswerEntry | BackendError] = []
        for entry in wire.answer_entries(data, len(items)):
            if entry.status == "error":
                outcomes.append(wire.entry_error(entry, status, self.transport.redact.value(data)))
            else:
                outcomes.append(entry)
        return outcomes

    # -- GroupBackend ---------------------------------------------------------------------

    async def create(self, group: Group) -> Group:
        (outcome,) = await self.create_many([group])
        if isinstance(outcome, BackendError):
            raise outcome
        return outcome

    async def create_many(self, groups: Sequence[Group]) -> list[Group | BackendError]:
        """Create several groups, ``max_batch`` per call; one outcome per group, in order.

        A call that half succeeds gives groups for its successes and errors for its failures.
        """
        for group in groups:
            self.check_new_group(group)
        results: list[Group | BackendError] = []
        for batch in _chunks(list(groups), self.config.max_batch):
            items = [
                wire.new_group_item(g.name, g.description, (g.members or ())[: self._per_request])
                for g in batch
            ]
            outcomes = await self._send_groups("POST", items)
            for group, outcome in zip(batch, outcomes, strict=True):
                results.append(await self._created(group, outcome))
        return results

    async def _created(
        self, group: Group, outcome: wire.ZohoAnswerEntry | BackendError
    ) -> Group | BackendError:
        if isinstance(outcome, BackendError):
            return outcome
        group_id = wire.created_id(outcome)
        if group_id is None or not self.id_pattern.fullmatch(group_id):
            return TransportError(
                "Zoho confirmed the create without a valid group id", backend=self.name
            )
        rest = (group.members or ())[self._per_request :]
        if rest:  # more members than one request may carry: complete the group by updates
            try:
                await self._put_sources(
                    group_id, group.name, UNSET, wire.changes_to_sources(rest, ())
                )
            except IncompleteWriteError as exc:
                return exc
            except BackendError as exc:
                # The group exists with its first members only: never "done" with less.
                held = self._per_request
                return self._incomplete(group_id, f"it holds {held} of its members", exc)
        # Built directly, not with attrs.evolve: batch jobs create by the thousand.
        return Group(
            group.name,
            group.description,
            group.members or (),
            group_id,
            group.active,
            group.rank,
            group.created_at,
            group.modified_at,
            self.name,
            wire.entry_json(outcome),
        )

    async def get(self, group_id: str) -> Group:
        data = await self._get_raw(group_id)
        members = [m async for page in self._member_pages(group_id) for m in page]
        return wire.group_from_zoho(data, members)

    async def _get_raw(self, group_id: str) -> Any:
        reply = await self._call("GET", f"/{path_segment(self.check_id(group_id))}")
        if reply.status == 204:  # the v8 spec's answer for an id that names no group
            raise NotFoundError(
                f"no user group has the id {group_id}", backend=self.name, status=204
            )
        return wire.single_group(reply.data)

    async def groups(self, *, include_inactive: bool = False) -> AsyncIterator[Group]:
        # Zoho has no inactive groups: delete removes them, so include_inactive changes nothing.
        async for items in self._pages({}):
            for item in items:
                yield wire.group_from_zoho(item)

    def _pages(self, query: dict[str, str]) -> AsyncIterator[list[Any]]:
        """The listing a page at a time (one generator step per page, not per group)."""

        async def fetch(page: int) -> tuple[list[Any], bool]:
            paged = {**query, "page": str(page), "per_page": str(PAGE_SIZE)}
            return wire.groups_page((await self._call("GET", query=paged)).data)

        return pages(fetch, backend=self.name, max_pages=self.config.max_pages, what="groups")

    async def members(self, group_id: str) -> AsyncIterator[Member]:
        async for page in self._member_pages(group_id):
            for member in page:
                yield member

    def _member_pages(self, group_id: str) -> AsyncIterator[list[Member]]:
        path = f"/{path_segment(self.check_id(group_id))}/sources"

        async def fetch(page: int) -> tuple[list[Member], bool]:
            paged = {"page": str(page), "per_page": str(PAGE_SIZE)}
            data = (await self._call("GET", path, query=paged)).data
            return wire.members_from_answer(data), wire.sources_page_more(data)

        what = "group's members"
        return pages(fetch, backend=self.name, max_pages=self.config.max_pages, what=what)

    async def find(self, name: str) -> Group | None:
        # The documented ``name`` query narrows the listing; the match is ours to make, under
        # the capabilities' case rule (the exact spelling first, should both be there).
        key = self.capabilities.name_key
        wanted, found = key(name), None
        async for items in self._pages({"name": name}):
            for item in items:
                held = wire.name_of(item)
                if held == name:
                    return wire.group_from_zoho(item)
                if found is None and held is not None and key(held) == wanted:
                    found = item
        return None if found is None else wire.group_from_zoho(found)

    async def update(self, group_id: str, changes: GroupChanges) -> Group:
        self.check_changes(group_id, changes)
        if changes.active is False:
            raise UnsupportedOperationError(
                "Zoho groups cannot be deactivated; delete() removes them", capability="hard_delete"
            )
        # Zoho requires the name on every update: send the new one, or the current one.
        name = changes.name or wire.single_name(await self._get_raw(group_id))
        sources = wire.changes_to_sources(changes.add, changes.remove)
        await self._put_sources(group_id, name, changes.description, sources)
        return await self.get(group_id)

    async def _put_sources(
        self,
        group_id: str,
        name: str,
        description: str | Unset | None,
        sources: Sequence[wire.ZohoSource],
    ) -> None:
        """PUT the changes, ``sources_per_request`` a request; the first carries the text."""
        for n, chunk in enumerate(_chunks(list(sources), self._per_request)):
            item = wire.group_to_zoho(
                name, description=description if n == 0 else UNSET, sources=chunk
            )
            try:
                (outcome,) = await self._send_groups("PUT", [item], f"/{path_segment(group_id)}")
            except BackendError as exc:
                outcome = exc
            if isinstance(outcome, BackendError):
                if n == 0:
                    raise outcome
                written = f"{n * self._per_request} of {len(sources)} member changes were made"
                raise self._incomplete(group_id, written, outcome)

    def _incomplete(self, group_id: str, written: str, cause: BackendError) -> IncompleteWriteError:
        """The error for a group changed in part: what was written, and why the rest was not."""
        error = IncompleteWriteError(
            f"the group {group_id} was written in part ({written}): {cause}; running the "
            "same change again completes it",
            group_id=group_id,
            backend=self.name,
            status=cause.status,
            code=cause.code,
        )
        error.__cause__ = cause
        return error

    async def delete(self, group_id: str) -> None:
        reply = await self._call("DELETE", f"/{path_segment(self.check_id(group_id))}")
        (entry,) = wire.answer_entries(reply.data, 1)
        if entry.status == "error":
            raise wire.entry_error(entry, reply.status, reply.data)
        if entry.code == "SCHEDULED":
            await self._wait_for_deletion(wire.deletion_job_id(entry))

    async def _wait_for_deletion(self, job_id: str) -> None:
        deadline = time.monotonic() + self.config.delete_job_timeout
        while True:
            reply = await self._call("GET", "/actions/deletion_jobs", query={"job_id": job_id})
            if reply.status == 204:  # the v8 spec's answer when no deletion job is pending
                return
            status = wire.deletion_job_status(reply.data)
            if status in self.config.delete_job_done:
                return
            if status in self.config.delete_job_failed:
                raise TransportError(
                    f"Zoho's deletion job {job_id} ended as {status!r}",
                    backend=self.name,
                    raw=reply.data,
                )
            if time.monotonic() >= deadline:
                raise TransportError(
                    f"Zoho's deletion job {job_id} was still {status!r} after "
                    f"{self.config.delete_job_timeout:g}s; the group may still be deleted later",
                    backend=self.name,
                    request_sent=True,
                )
            await asyncio.sleep(self.config.delete_job_poll_interval)

    # -- UserDirectory ----------------------------------------------------------------------
    # Needs the ZohoCRM.users.READ scope besides the user groups' scopes.

    async def users(self, *, include_inactive: bool = False) -> AsyncIterator[User]:
        # ActiveUsers should hold active users only; the status is checked again regardless.
        kind = wire.ALL_USERS if include_inactive else wire.ACTIVE_USERS
        async for page in self._paged("/users", {"type": kind}, wire.users_page, "users"):
            for user in page:
                if include_inactive or user.active:
                    yield user

    async def get_user(self, user_id: str) -> User:
        path = f"/users/{path_segment(self.check_id(user_id, field='user_id'))}"
        reply = await self.transport.send(Request("GET", path))
        if reply.status == 204:  # the v8 spec's answer for an id that names no user
            raise NotFoundError(f"no user has the id {user_id}", backend=self.name, status=204)
        return wire.single_user(reply.data)

    async def user_groups(self, user_id: str) -> AsyncIterator[Group]:
        # The spec's own call for it: GET /users/{id}/actions/associated_groups (204: none).
        segment = path_segment(self.check_id(user_id, field="user_id"))
        path = f"/users/{segment}/actions/associated_groups"
        async for page in self._paged(path, {}, wire.associated_groups_page, "user's groups"):
            for group in page:
                yield group

    def _paged(
        self,
        path: str,
        query: dict[str, str],
        read: Callable[[Any], tuple[list[T], bool]],
        what: str,
    ) -> AsyncIterator[list[T]]:
        """Pages of ``path`` under ``/crm/{version}`` (not the groups' path), read by ``read``."""

        async def fetch(page: int) -> tuple[list[T], bool]:
            paged = {**query, "page": str(page), "per_page": str(PAGE_SIZE)}
            return read((await self.transport.send(Request("GET", path, query=paged))).data)

        return pages(fetch, backend=self.name, max_pages=self.config.max_pages, what=what)
