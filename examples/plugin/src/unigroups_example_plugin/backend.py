"""A backend for Acme CRM, a small made-up JSON API, on unigroups' public API only.

unigroups' request pipeline does the retries, throttling, redaction and TLS; this module holds
only what is Acme's: its options, field names, error codes and paths.
"""

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Final

import attrs

from unigroups import Capabilities, Group, GroupChanges, Member, MemberKind
from unigroups.backends.base import BackendBase
from unigroups.errors import DecodingError, DuplicateGroupError, NotFoundError
from unigroups.http import (
    HeaderAuth,
    Request,
    Transport,
    TransportOptions,
    VendorError,
    pages,
    path_segment,
)
from unigroups.options import header_safe, secure_url

PAGE_SIZE: Final = 50
ERRORS: Final = {"group_not_found": NotFoundError, "name_taken": DuplicateGroupError}  # by code


@attrs.frozen(kw_only=True)
class ExampleConfig(TransportOptions):
    """``open_backend("example", base_url=..., api_key=...)``; the transport options inherited."""

    base_url: str = attrs.field(validator=secure_url)  # https://, or http:// on loopback
    api_key: str = attrs.field(repr=False, validator=header_safe)

    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,)


def parse_error(status: int, body: Any) -> VendorError:
    """What an Acme error body says; the HTTP status decides the class when the code does not."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return VendorError(message=f"HTTP {status}")
    code = str(error.get("code", status))
    return VendorError(str(error.get("message", code)), code=code, kind=ERRORS.get(code))


def group_from_acme(data: Any, *, with_members: bool = True) -> Group:
    """An Acme group as a ``Group``; anything else is a DecodingError, never a KeyError."""
    try:
        members = [Member(m["type"], m["id"]) for m in data["members"]] if with_members else None
        return Group(
            id=data["id"],
            name=data["name"],
            description=data.get("description"),
            members=members,
            active=data["active"],
            backend="example",
            raw=data,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodingError(f"not an Acme group ({exc!r})", backend="example", raw=data) from None


def group_to_acme(group: Group) -> dict[str, Any]:
    return {
        "name": group.name,
        "description": group.description,
        "members": [{"type": m.kind.value, "id": m.id} for m in group.members or ()],
        "active": group.active,
    }


class ExampleBackend(BackendBase):
    """Acme CRM user groups: users and groups as members, soft delete."""

    name: str = "example"
    transport: Transport
    config_class: ClassVar[type[ExampleConfig]] = ExampleConfig
    capabilities: Capabilities = Capabilities(
        member_kinds=frozenset({MemberKind.USER, MemberKind.GROUP}),
        subordinates=False,
        hard_delete=False,
        rank=False,
        name_max_length=80,
        description_max_length=200,
    )

    def __init__(self, config: ExampleConfig) -> None:
        self.config = config
        self.transport = config.make_transport(
            backend=self.name,
            base_url=config.base_url,
            parse_error=parse_error,
            auth=lambda sender: HeaderAuth({"X-Api-Key": config.api_key}, config.secrets()),
            secrets=config.secrets,
        )

    async def _send(self, method: str, path: str = "", **fields: Any) -> Any:
        return (await self.transport.send(Request(method, f"/groups{path}", **fields))).data

    def _path(self, group_id: str) -> str:
        return f"/{path_segment(self.check_id(group_id))}"  # checked before it is a path

    async def _listing(self, query: Mapping[str, str]) -> AsyncIterator[Group]:
        async def fetch(page: int) -> tuple[list[Any], bool]:
            paged = {**query, "page": str(page), "per_page": str(PAGE_SIZE)}
            data = await self._send("GET", query=paged)
            if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
                raise DecodingError("not an Acme page of groups", backend=self.name, raw=data)
            return data["groups"], data.get("more") is True

        async for page in pages(fetch, backend=self.name, max_pages=self.config.max_pages):
            for item in page:
                yield group_from_acme(item, with_members=False)

    async def create(self, group: Group) -> Group:
        self.check_new_group(group)
        return group_from_acme(await self._send("POST", body=group_to_acme(group)))

    async def get(self, group_id: str) -> Group:
        return group_from_acme(await self._send("GET", self._path(group_id)))

    def groups(self, *, include_inactive: bool = False) -> AsyncIterator[Group]:
        return self._listing({"include_inactive": "true"} if include_inactive else {})

    async def members(self, group_id: str) -> AsyncIterator[Member]:
        for member in (await self.get(group_id)).members or ():
            yield member

    async def find(self, name: str) -> Group | None:
        async for group in self._listing({"name": name, "include_inactive": "true"}):
            if group.name == name:
                return group
        return None

    async def update(self, group_id: str, changes: GroupChanges) -> Group:
        self.check_changes(group_id, changes)
        wanted = changes.apply_to(await self.get(group_id))  # PUT replaces the whole group
        data = await self._send("PUT", self._path(group_id), body=group_to_acme(wanted))
        return group_from_acme(data)

    async def delete(self, group_id: str) -> None:
        await self._send("DELETE", self._path(group_id))  # Acme keeps it, inactive
