"""SuperOffice's UserGroup carrier to and from the neutral models. The only module that knows
SuperOffice's field names."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ...errors import DecodingError, DuplicateGroupError, ValidationError
from ...http import VendorError
from ...models import Group
from ..decoding import strict, structure_answer

__all__ = [
    "INT32_MAX",
    "FieldProperty",
    "FieldRight",
    "Rights",
    "UserGroupCarrier",
    "carrier_for",
    "group_from_carrier",
    "groups_from_list",
    "items_by_name",
    "parse_error",
    "rights_of",
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


def _renamed(
    cls: type[Any], converter: cattrs.Converter, *, answers_only: tuple[str, ...] = ()
) -> None:
    """Declare PascalCase names for every field of ``cls``; ``answers_only`` are never sent."""
    renames: dict[str, Any] = {
        a.name: override(rename=_pascal(a.name), omit=a.name in answers_only)
        for a in attrs.fields(cls)
    }
    converter.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, converter, **renames))
    structure_renames: dict[str, Any] = {
        a.name: override(rename=_pascal(a.name)) for a in attrs.fields(cls)
    }
    converter.register_structure_hook(
        cls, make_dict_structure_fn(cls, converter, **structure_renames)
    )


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    for kind in (str, int, bool):
        converter.register_structure_hook(kind, strict(kind))
    _renamed(FieldRight, converter)
    _renamed(FieldProperty, converter)
    _renamed(UserGroupCarrier, converter, answers_only=("table_right", "field_properties"))
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
            members=(),  # SuperOffice keeps membership on users, not on the group
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
