"""SuperOffice's JSON to and from the neutral models: the UserGroup carrier, the User entity
(a user's primary and other groups), the AllUsers archive's rows, and the JSON Patch that
changes a user's other groups. The only module that knows SuperOffice's field names."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ...errors import DecodingError, DuplicateGroupError, ValidationError
from ...http import VendorError
from ...models import Group, Member, MemberKind, User
from ..decoding import strict, structure_answer

__all__ = [
    "INT32_MAX",
    "USERS",
    "FieldProperty",
    "FieldRight",
    "PersonCarrier",
    "Rights",
    "UserEntity",
    "UserGroupCarrier",
    "UserRow",
    "add_other_group",
    "carrier_for",
    "group_from_carrier",
    "groups_from_list",
    "groups_of",
    "items_by_name",
    "member_from_row",
    "members_filter",
    "parse_error",
    "remove_other_group",
    "rights_of",
    "user_entity",
    "user_from_entity",
    "user_from_row",
    "users_page",
    "users_query",
]

INT32_MAX: Final = 2**31 - 1


@attrs.frozen
class FieldRight:
    mask: str = ""
    reason: str = ""


@attrs.frozen
class FieldProperty:
    field_right: FieldRight | None = None
    field_type: str | None = None
    field_length: int | None = None


@attrs.frozen
class UserGroupCarrier:
    """The UserGroup carrier. ``table_right`` and ``field_properties`` come in answers only."""

    value: str
    tooltip: str | None = ""
    id: int = 0
    rank: int = 0
    deleted: bool = False
    table_right: FieldRight | None = None
    field_properties: dict[str, FieldProperty] | None = None


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _renamed(
    cls: type[Any],
    converter: cattrs.Converter,
    *,
    answers_only: tuple[str, ...] = (),
    rename: Callable[[str], str] = _pascal,
) -> None:
    """Declare the vendor's name (``rename`` of each field's) for every field of ``cls``;
    ``answers_only`` are never sent."""
    renames: dict[str, Any] = {
        a.name: override(rename=rename(a.name), omit=a.name in answers_only)
        for a in attrs.fields(cls)
    }
    converter.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, converter, **renames))
    structure_renames: dict[str, Any] = {
        a.name: override(rename=rename(a.name)) for a in attrs.fields(cls)
    }
    converter.register_structure_hook(
        cls, make_dict_structure_fn(cls, converter, **structure_renames)
    )


# -- users: the User entity and the AllUsers archive (read only; see the JSON Patch below) ----

USERS: Final = "/User"


@attrs.frozen
class PersonCarrier:
    """The person behind a user (``User.Person``); the fields unigroups reads."""

    person_id: int = 0
    full_name: str | None = None
    email: str | None = None


@attrs.frozen
class UserEntity:
    """``GET /User/{id}``: the fields unigroups reads. ``user_group`` is the primary group."""

    associate_id: int
    name: str | None = None  # login name or initials
    user_name: str | None = None  # may be an e-mail address
    deleted: bool = False
    person: PersonCarrier | None = None
    user_group: UserGroupCarrier | None = None
    other_groups: list[UserGroupCarrier] | None = None

    @property
    def primary_group_id(self) -> int | None:
        return None if self.user_group is None else self.user_group.id

    @property
    def other_group_ids(self) -> list[int]:
        return [group.id for group in self.other_groups or ()]


@attrs.frozen
class UserRow:
    """A row of ``GET /User`` (the AllUsers archive). Its fields, camelCased, are the
    ``$select`` columns; ``usergroup_id`` is the primary group."""

    associate_db_id: int
    assoc_name: str | None = None
    full_name: str | None = None
    user_name: str | None = None
    person_email: str | None = None
    usergroup_id: int = 0
    is_active: bool = True


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    for kind in (str, int, bool):
        converter.register_structure_hook(kind, strict(kind))
    _renamed(FieldRight, converter)
    _renamed(FieldProperty, converter)
    _renamed(UserGroupCarrier, converter, answers_only=("table_right", "field_properties"))
    _renamed(PersonCarrier, converter)
    _renamed(UserEntity, converter)
    _renamed(UserRow, converter, rename=_camel)
    return converter


converter: Final = _make_converter()

T = TypeVar("T")


def structure(data: Any, cls: type[T], what: str) -> T:
    return structure_answer(converter, data, cls, backend="superoffice", what=what)


# -- models to SuperOffice ---------------------------------------------------------------


def carrier_for(group: Group) -> dict[str, Any]:
    """The carrier to POST or PUT: all five fields, since PUT replaces every one of them."""
    group_id = 0 if group.id is None else int(group.id)
    if not 0 <= group_id <= INT32_MAX:
        raise ValidationError(f"{group.id} is not an int32 id", field="id")
    rank = group.rank or 0
    if not -INT32_MAX - 1 <= rank <= INT32_MAX:
        raise ValidationError(f"{rank} does not fit in an int32", field="rank")
    carrier = UserGroupCarrier(
        value=group.name,
        tooltip=group.description or "",
        id=group_id,
        rank=rank,
        deleted=not group.active,
    )
    body: dict[str, Any] = converter.unstructure(carrier)
    return body


# -- SuperOffice to models ---------------------------------------------------------------


def group_from_carrier(data: Any) -> Group:
    carrier = structure(data, UserGroupCarrier, "a user group")
    if not 1 <= carrier.id <= INT32_MAX:
        raise DecodingError(
            f"SuperOffice sent a user group with id {carrier.id}", backend="superoffice", raw=data
        )
    if not -INT32_MAX - 1 <= carrier.rank <= INT32_MAX:  # else an update could not send it back
        raise DecodingError(
            f"SuperOffice sent a user group with rank {carrier.rank}",
            backend="superoffice",
            raw=data,
        )
    try:
        return Group(
            name=carrier.value,
            description=carrier.tooltip or None,
            members=None,  # not on the carrier: a group's members are read from its users
            id=str(carrier.id),
            active=not carrier.deleted,
            rank=carrier.rank,
            backend="superoffice",
            raw=data,
        )
    except Exception as exc:
        raise DecodingError(
            f"SuperOffice sent a group unigroups cannot represent: {exc}",
            backend="superoffice",
            raw=data,
        ) from None


def groups_from_list(data: Any) -> list[Group]:
    if not isinstance(data, list):
        raise DecodingError(
            "SuperOffice's list of user groups is not an array", backend="superoffice", raw=data
        )
    return [group_from_carrier(item) for item in data]


def items_by_name(data: Any, key: Callable[[str], str]) -> dict[str, list[Any]]:
    """A list answer's raw items by ``key`` of their name (``Value``): a look-up by name
    converts only what it finds."""
    if not isinstance(data, list):
        raise DecodingError(
            "SuperOffice's list of user groups is not an array", backend="superoffice", raw=data
        )
    index: dict[str, list[Any]] = {}
    for item in data:
        name = item.get("Value") if isinstance(item, dict) else None
        if isinstance(name, str):
            index.setdefault(key(name), []).append(item)
    return index


# -- users --------------------------------------------------------------------------------

USER_COLUMNS: Final = tuple(_camel(a.name) for a in attrs.fields(UserRow))
_NEXT_LINK: Final = "odata.nextLink"


def users_query(*, filter: str | None, top: int, skip: int) -> dict[str, str]:
    """The OData query of one page of ``GET /User``: the columns unigroups reads."""
    query = {"$select": ",".join(USER_COLUMNS), "$top": str(top), "$skip": str(skip)}
    if filter is not None:
        query["$filter"] = filter
    return query


def members_filter(group_id: int) -> str:
    """The users whose primary group or other groups hold the group. How the archive wants
    ``otherGroups`` (a list column) tested is unconfirmed against a live tenant: only here."""
    return f"usergroupId eq {group_id} or otherGroups in ({group_id})"


def users_page(data: Any) -> tuple[list[Any], bool]:
    """A page of ``GET /User``: its raw rows, and whether a next link says more follow."""
    rows = data.get("value") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise DecodingError(
            "SuperOffice's list of users has no 'value' array", backend="superoffice", raw=data
        )
    assert isinstance(data, dict)
    return rows, bool(data.get(_NEXT_LINK))


def _email(email: str | None, user_name: str | None) -> str | None:
    # The person's e-mail; else the user name when it is an address (it may be one).
    if email:
        return email
    return user_name if user_name and "@" in user_name else None


def _checked_id(user_id: int, raw: Any) -> str:
    if not 1 <= user_id <= INT32_MAX:
        raise DecodingError(
            f"SuperOffice sent a user with id {user_id}", backend="superoffice", raw=raw
        )
    return str(user_id)


def _row(data: Any) -> UserRow:
    return structure(data, UserRow, "a user")


def user_from_row(data: Any) -> User:
    row = _row(data)
    email = _email(row.person_email, row.user_name)
    name = row.full_name or row.assoc_name or None
    return User(
        _checked_id(row.associate_db_id, data), name, email, row.is_active, "superoffice", data
    )


def member_from_row(data: Any, group_id: int) -> Member:
    """A group's member from its user's row; ``primary`` when it is the user's main group."""
    row = _row(data)
    return Member(
        MemberKind.USER,
        _checked_id(row.associate_db_id, data),
        name=row.full_name or row.assoc_name or None,
        primary=row.usergroup_id == group_id,
    )


def user_entity(data: Any) -> UserEntity:
    return structure(data, UserEntity, "a user")


def user_from_entity(entity: UserEntity, raw: Any) -> User:
    person = entity.person or PersonCarrier()
    email = _email(person.email, entity.user_name)
    user_id = _checked_id(entity.associate_id, raw)
    name = person.full_name or entity.name or None
    return User(user_id, name, email, not entity.deleted, "superoffice", raw)


def groups_of(entity: UserEntity) -> list[Group]:
    """The user's groups, primary first (members not loaded), each once."""
    carriers = [entity.user_group, *(entity.other_groups or ())]
    seen: set[int] = set()
    groups: list[Group] = []
    for carrier in carriers:
        if carrier is None or carrier.id in seen:
            continue
        seen.add(carrier.id)
        groups.append(group_from_carrier(converter.unstructure(carrier)))
    return groups


def add_other_group(group_id: int) -> list[dict[str, Any]]:
    """The JSON Patch that appends a group to a user's other groups."""
    return [{"op": "add", "path": "/OtherGroups/-", "value": {"Id": group_id}}]


def remove_other_group(index: int, group_id: int) -> list[dict[str, Any]]:
    """The JSON Patch that removes ``OtherGroups[index]`` only if it still is ``group_id``:
    should the list have changed since it was read, the ``test`` fails with 409 and nothing
    is removed (never a different group)."""
    return [
        {"op": "test", "path": f"/OtherGroups/{index}/Id", "value": group_id},
        {"op": "remove", "path": f"/OtherGroups/{index}"},
    ]


@attrs.frozen
class Rights:
    """What the answer said the caller may do with the group and each of its fields."""

    table_right: FieldRight | None
    field_properties: dict[str, FieldProperty]


def rights_of(group: Group) -> Rights:
    """TableRight and FieldProperties of a group read from SuperOffice (kept in ``raw``)."""
    carrier = structure(group.raw, UserGroupCarrier, "a user group")
    return Rights(carrier.table_right, dict(carrier.field_properties or {}))


# -- errors ------------------------------------------------------------------------------


def parse_error(status: int, body: Any) -> VendorError:
    """An error answer: JSON (SoExceptionInfo-like), plain text or HTML, kept as received."""
    code: str | None = None
    if isinstance(body, dict):
        message = body.get("Message") or body.get("FriendlyText") or body.get("error")
        code = body.get("ExceptionType") or body.get("ErrorType") or body.get("error")
        text = message if isinstance(message, str) else f"HTTP {status}"
    elif isinstance(body, str) and body.strip():
        text = _plain(body)
    else:
        text = f"HTTP {status}"
    kind = None
    blob = f"{text} {code or ''}".lower()
    if status == 409 or "duplicate" in blob or "unique" in blob:
        kind = DuplicateGroupError  # the unique index on Value
    return VendorError(message=text, code=code if isinstance(code, str) else str(status), kind=kind)


def _plain(text: str) -> str:
    """The readable part of a plain-text or HTML error body, on one line."""
    title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
    stripped = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    return " ".join(stripped.split())[:300] or "(empty body)"
