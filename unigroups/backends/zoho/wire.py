"""Zoho's JSON for user groups, to and from the neutral models. The only module that knows
Zoho's field names.

Vendor shapes are attrs classes; one cattrs converter turns them into JSON and back with the
renames declared (``_delete``), ids kept as strings and timestamps keeping their offset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeAlias, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ...errors import (
    AuthenticationError,
    BackendError,
    DuplicateGroupError,
    InvalidDataError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
    build_error,
)
from ...http import VendorError
from ...models import (
    UNSET,
    Group,
    Member,
    MemberKind,
    Unset,
    group_from_checked,
    member_from_checked,
)
from ..decoding import strict, structure_answer

__all__ = [
    "ZohoAnswerEntry",
    "ZohoSource",
    "ZohoSourceRef",
    "ZohoUserGroup",
    "changes_to_sources",
    "group_from_zoho",
    "group_to_zoho",
    "member_from_source",
    "parse_error",
]

KIND_TO_TYPE: Final = {
    MemberKind.USER: "users",
    MemberKind.ROLE: "roles",
    MemberKind.GROUP: "groups",
    MemberKind.TERRITORY: "territories",
}
TYPE_TO_KIND: Final = {v: k for k, v in KIND_TO_TYPE.items()}
_HIERARCHICAL: Final = frozenset({MemberKind.ROLE, MemberKind.TERRITORY})


@attrs.frozen
class ZohoSourceRef:
    id: str
    name: str | None = None


@attrs.frozen
class ZohoSource:
    """One ``sources[]`` item: a member, or with ``delete`` the removal of one."""

    source: ZohoSourceRef
    type: str
    subordinates: bool | None = None
    sub_territories: bool | None = None  # in the v8 spec and the SDK, read as subordinates
    delete: bool | None = None  # "_delete" on the wire


@attrs.frozen
class ZohoUserGroup:
    """A group as Zoho sends or receives it; ``sources`` is absent from single-group reads."""

    name: str
    id: str | None = None
    description: str | None = None
    sources: list[ZohoSource] | None = None
    created_time: datetime | None = None
    modified_time: datetime | None = None


@attrs.frozen
class ZohoAnswerEntry:
    """One entry of an action answer: ``{"code", "details", "message", "status"}``."""

    code: str
    status: str
    message: str = ""
    details: dict[str, Any] = attrs.field(factory=dict)


_SourceValues: TypeAlias = tuple[str, str | None, str, bool | None, bool | None, bool | None]
_GroupValues: TypeAlias = tuple[
    str, str | None, str | None, list[Any] | None, datetime | None, datetime | None
]


def _source_values(data: Any) -> _SourceValues | None:
    """A ``sources[]`` item in the documented case, every value of exactly its type: (id,
    name, type, subordinates, sub_territories, _delete). None for anything else."""
    if type(data) is not dict:
        return None
    ref = data.get("source")
    kind = data.get("type")
    if type(ref) is not dict or type(kind) is not str:
        return None
    ref_id = ref.get("id")
    ref_name = ref.get("name")
    subordinates = data.get("subordinates")
    sub_territories = data.get("sub_territories")
    delete = data.get("_delete")
    if (  # written out, not through a helper: this runs 200 times a page
        type(ref_id) is not str
        or (ref_name is not None and type(ref_name) is not str)
        or (subordinates is not None and type(subordinates) is not bool)
        or (sub_territories is not None and type(sub_territories) is not bool)
        or (delete is not None and type(delete) is not bool)
    ):
        return None
    return ref_id, ref_name, kind, subordinates, sub_territories, delete


def _group_values(data: Any) -> _GroupValues | None:
    """A ``user_groups[]`` item in the documented case, timestamps read: (name, id,
    description, sources as sent, created, modified). None for anything else."""
    if type(data) is not dict:
        return None
    name = data.get("name")
    group_id = data.get("id")
    description = data.get("description")
    sources = data.get("sources")
    created = data.get("created_time")
    modified = data.get("modified_time")
    if (  # written out, as above
        type(name) is not str
        or (group_id is not None and type(group_id) is not str)
        or (description is not None and type(description) is not str)
        or (sources is not None and type(sources) is not list)
        or (created is not None and type(created) is not str)
        or (modified is not None and type(modified) is not str)
    ):
        return None
    try:
        created_at = None if created is None else datetime.fromisoformat(created)
        modified_at = None if modified is None else datetime.fromisoformat(modified)
    except ValueError:
        return None
    return name, group_id, description, sources, created_at, modified_at


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(omit_if_default=True)
    converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_structure_hook(str, strict(str))
    converter.register_unstructure_hook(
        ZohoSource,
        make_dict_unstructure_fn(
            ZohoSource, converter, _cattrs_omit_if_default=True, delete=override(rename="_delete")
        ),
    )
    checked_source = make_dict_structure_fn(
        ZohoSource, converter, delete=override(rename="_delete")
    )
    checked_group = make_dict_structure_fn(ZohoUserGroup, converter)
    checked_entry = make_dict_structure_fn(ZohoAnswerEntry, converter)
    sources_type = list[ZohoSource]

    # A listing reads 200 groups a page and a group's members come 200 a page, so the two
    # hot shapes get a direct path for the documented case (_source_values, _group_values).
    # Anything else goes through cattrs' generated hook, which gives the same result or the
    # error that names the field. (tests/test_wire_fast_paths.py holds them to that.)

    def structure_source(data: Any, cls: Any) -> ZohoSource:
        values = _source_values(data)
        if values is None:
            return checked_source(data, cls)
        ref_id, ref_name, kind, subordinates, sub_territories, delete = values
        return ZohoSource(
            ZohoSourceRef(ref_id, ref_name), kind, subordinates, sub_territories, delete
        )

    def structure_group(data: Any, cls: Any) -> ZohoUserGroup:
        values = _group_values(data)
        if values is None:
            return checked_group(data, cls)
        name, group_id, description, sources, created_at, modified_at = values
        try:
            members = None if sources is None else converter.structure(sources, sources_type)
        except Exception:  # cattrs' hook raises the error that names the field
            return checked_group(data, cls)
        return ZohoUserGroup(name, group_id, description, members, created_at, modified_at)

    def structure_entry(data: Any, cls: Any) -> ZohoAnswerEntry:
        # One per group created: the answer batch jobs read by the thousand.
        if type(data) is dict:
            code = data.get("code")
            status = data.get("status")
            message = data.get("message", "")
            details = data.get("details", {})
            if (
                type(code) is str
                and type(status) is str
                and type(message) is str
                and type(details) is dict
                and all(type(key) is str for key in details)
            ):
                return ZohoAnswerEntry(code, status, message, dict(details))
        return checked_entry(data, cls)

    converter.register_structure_hook(ZohoAnswerEntry, structure_entry)
    converter.register_structure_hook(ZohoSource, structure_source)
    converter.register_structure_hook(ZohoUserGroup, structure_group)
    return converter


converter: Final = _make_converter()

T = TypeVar("T")


def structure(data: Any, cls: type[T], what: str) -> T:
    return structure_answer(converter, data, cls, backend="zoho", what=what)


# -- models to Zoho -----------------------------------------------------------------------


def source_for(member: Member, *, delete: bool = False) -> ZohoSource:
    hierarchical = member.kind in _HIERARCHICAL
    return ZohoSource(
        source=ZohoSourceRef(id=member.id, name=member.name),
        type=KIND_TO_TYPE[member.kind],
        # Sent for roles and territories always, so that an update can also turn it off.
        subordinates=member.include_subordinates if hierarchical and not delete else None,
        delete=True if delete else None,
    )


def group_to_zoho(
    name: str,
    *,
    description: str | Unset | None = UNSET,
    sources: Sequence[ZohoSource] = (),
    group_id: str | None = None,
) -> dict[str, Any]:
    """One ``user_groups[]`` item. ``sources`` is always sent: Zoho makes the key mandatory.

    ``description`` UNSET leaves it out; None sends an explicit null, which clears it.
    """
    wire = ZohoUserGroup(
        name=name,
        id=group_id,
        description=None if isinstance(description, Unset) else description,
        sources=list(sources),
    )
    item: dict[str, Any] = converter.unstructure(wire)
    if description is None:
        item["description"] = None
    return item


def new_group_item(name: str, description: str | None, members: Iterable[Member]) -> dict[str, Any]:
    """The ``user_groups[]`` item that creates a group: what ``group_to_zoho`` gives for
    ``sources=[source_for(m) for m in members]`` (tests hold the two together), built straight
    from the models, since batch jobs send creates by the thousand."""
    item: dict[str, Any] = {"name": name}
    if description is not None:
        item["description"] = description
    sources = []
    for member in members:
        ref = {"id": member.id} if member.name is None else {"id": member.id, "name": member.name}
        source: dict[str, Any] = {"source": ref, "type": KIND_TO_TYPE[member.kind]}
        if member.kind in _HIERARCHICAL:
            source["subordinates"] = member.include_subordinates
        sources.append(source)
    item["sources"] = sources
    return item


def changes_to_sources(add: Iterable[Member], remove: Iterable[Member]) -> list[ZohoSource]:
    return [*(source_for(m) for m in add), *(source_for(m, delete=True) for m in remove)]


def request_body(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"user_groups": list(items)}


# -- Zoho to models -----------------------------------------------------------------------


def member_from_source(source: ZohoSource) -> Member:
    kind = TYPE_TO_KIND.get(source.type)
    if kind is None:
        raise TransportError(f"Zoho sent a member of unknown type {source.type!r}", backend="zoho")
    flag = bool(source.subordinates or source.sub_territories) and kind in _HIERARCHICAL
    try:
        return Member(kind, source.source.id, name=source.source.name, include_subordinates=flag)
    except ValidationError as exc:  # the vendor's data broke a model rule (a blank id, say)
        raise TransportError(
            f"Zoho sent a member unigroups cannot represent: {exc}", backend="zoho"
        ) from None


def members_from_answer(data: Any) -> list[Member]:
    """A ``/sources`` page (``None`` for a 204) to members."""
    if data is None:
        return []
    items = _key(data, "sources")
    if type(items) is list:
        members = _members_directly(items)
        if members is not None:
            return members
    sources = structure(items, list[ZohoSource], "the group's members")
    return [member_from_source(s) for s in sources]


def _members_directly(items: list[Any]) -> list[Member] | None:
    """The documented case (every value of exactly its type) straight to models, without the
    wire objects in between: a page holds up to 200. None when any item is not that case;
    the cattrs path then reads the page and raises the error that names the problem."""
    members = []
    for item in items:
        values = _source_values(item)
        if values is None:
            return None
        ref_id, ref_name, kind_name, subordinates, sub_territories, _delete = values
        kind = TYPE_TO_KIND.get(kind_name)
        if kind is None or not ref_id.strip():  # what Member would refuse
            return None
        flag = bool(subordinates or sub_territories) and kind in _HIERARCHICAL
        members.append(member_from_checked(kind, ref_id, ref_name, flag))
    return members


def group_from_zoho(data: Any, members: Sequence[Member] | None = None) -> Group:
    if members is None:
        group = _listed_group_directly(data)
        if group is not None:
            return group
    wire = structure(data, ZohoUserGroup, "a group")
    if wire.id is None:
        raise TransportError("Zoho sent a group without an id", backend="zoho", raw=data)
    if members is None and wire.sources is not None:
        members = [member_from_source(s) for s in wire.sources]
    try:
        return Group(
            name=wire.name,
            description=wire.description,
            members=None if members is None else tuple(members),
            id=wire.id,
            created_at=wire.created_time,
            modified_at=wire.modified_time,
            backend="zoho",
            raw=data,
        )
    except BackendError:
        raise
    except Exception as exc:  # the vendor's data broke a model rule (a blank name, say)
        raise TransportError(
            f"Zoho sent a group unigroups cannot represent: {exc}", backend="zoho", raw=data
        ) from None


def _listed_group_directly(data: Any) -> Group | None:
    """A group as a list page holds it (no ``sources``), in the documented case, straight to
    the model: every value checked as ``Group`` would check it. None for anything else; the
    wire objects then read it and raise the error that names the problem."""
    values = _group_values(data)
    if values is None:
        return None
    name, group_id, description, sources, created_at, modified_at = values
    if sources is not None or group_id is None or not name.strip() or not group_id.strip():
        return None
    return group_from_checked(name, group_id, description, created_at, modified_at, "zoho", data)


def groups_page(data: Any) -> tuple[list[Any], bool]:
    """A list page (``None`` for a 204) to its raw groups and whether more pages follow."""
    if data is None:
        return [], False
    items = _key(data, "user_groups")
    if not isinstance(items, list):
        raise TransportError("Zoho's user_groups is not a list", backend="zoho", raw=data)
    info = data.get("info") or {}
    more = info.get("more_records") if isinstance(info, dict) else None
    return items, more is True


def sources_page_more(data: Any) -> bool:
    info = data.get("info") if isinstance(data, dict) else None
    return isinstance(info, dict) and info.get("more_records") is True


def single_group(data: Any) -> Any:
    items = _key(data, "user_groups")
    if not isinstance(items, list) or len(items) != 1:
        raise TransportError("Zoho's answer holds no single group", backend="zoho", raw=data)
    return items[0]


def single_name(data: Any) -> str:
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise TransportError("Zoho sent a group without a name", backend="zoho", raw=data)
    return name


def deletion_job_status(data: Any) -> str:
    """The status of a deletion job answer, lower-cased (the values are not documented)."""
    jobs = _key(data, "deletion_jobs")
    if not isinstance(jobs, list) or not jobs or not isinstance(jobs[0], dict):
        raise TransportError("Zoho sent no deletion job", backend="zoho", raw=data)
    status = jobs[0].get("Status", jobs[0].get("status"))
    if not isinstance(status, str):
        raise TransportError("Zoho's deletion job has no status", backend="zoho", raw=data)
    return status.lower()


def answer_entries(data: Any, expected: int) -> list[ZohoAnswerEntry]:
    """The per-group entries of an action answer, one for each group sent, in order."""
    entries = structure(_key(data, "user_groups"), list[ZohoAnswerEntry], "an action")
    if len(entries) != expected:
        raise TransportError(
            f"Zoho answered {len(entries)} entries for {expected} groups sent",
            backend="zoho",
            raw=data,
        )
    return entries


def entry_json(entry: ZohoAnswerEntry) -> dict[str, Any]:
    """An answer entry as JSON again (``attrs.asdict`` gives the same, ten times slower)."""
    return {
        "code": entry.code,
        "status": entry.status,
        "message": entry.message,
        "details": dict(entry.details),
    }


def _key(data: Any, key: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise TransportError(f"Zoho's answer has no {key!r}", backend="zoho", raw=data)
    return data[key]


# -- errors -------------------------------------------------------------------------------

_BY_CODE: Final[dict[str, type[BackendError]]] = {
    "DUPLICATE_DATA": DuplicateGroupError,
    "INVALID_TOKEN": AuthenticationError,
    "AUTHENTICATION_FAILED": AuthenticationError,
    "OAUTH_SCOPE_MISMATCH": PermissionDeniedError,
    "NO_PERMISSION": PermissionDeniedError,
    "MANDATORY_NOT_FOUND": InvalidDataError,
    "REQUIRED_PARAM_MISSING": InvalidDataError,
    "PATTERN_NOT_MATCHED": InvalidDataError,
    "LIMIT_EXCEEDED": InvalidDataError,
    "INVALID_URL_PATTERN": NotFoundError,
    "TOO_MANY_REQUESTS": RateLimitedError,
    "INTERNAL_SERVER_ERROR": ServerError,
}

_ADVICE: Final[dict[str, str]] = {
    "DUPLICATE_DATA": "choose another name: group names are unique in a Zoho org",
    "NO_PERMISSION": "the user needs the 'Manage Groups' permission",
    "OAUTH_SCOPE_MISMATCH": "the token needs a ZohoCRM.settings.user_groups scope",
    "INVALID_TOKEN": "renew the access token, or give refresh_token/client_id/client_secret",
    "TOO_MANY_REQUESTS": "lower max_concurrency or wait for the org's API credits",
}


def error_from_entry(status: int, entry: Mapping[str, Any]) -> VendorError:
    code = entry.get("code")
    code = code if isinstance(code, str) else None
    details = entry.get("details")
    details = details if isinstance(details, dict) else {}
    message = entry.get("message")
    message = message if isinstance(message, str) and message else f"HTTP {status}"
    kind = _BY_CODE.get(code or "")
    if code == "INVALID_DATA" and "resource_path_index" in details:
        kind = NotFoundError  # the group id in the path names no group
        message = f"{message}: no user group has that id"
    elif code == "INVALID_DATA":
        kind = InvalidDataError
    if code in _ADVICE:
        message = f"{message} ({_ADVICE[code]})"
    return VendorError(message=message, code=code, details=details, kind=kind)


def parse_error(status: int, body: Any) -> VendorError:
    """A Zoho error body (top level, or the first failed ``user_groups[]`` entry)."""
    if isinstance(body, dict):
        entries = body.get("user_groups")
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict) and entry.get("status") == "error":
                    return error_from_entry(status, entry)
        if "code" in body:
            return error_from_entry(status, body)
    text = body if isinstance(body, str) and body.strip() else f"HTTP {status}"
    return VendorError(message=text[:200])


def entry_error(entry: ZohoAnswerEntry, status: int, raw: Any) -> BackendError:
    """The error for one failed entry of an action answer (a batch's partial failure)."""
    info = error_from_entry(status, attrs.asdict(entry))
    return build_error(
        info.kind,
        info.message,
        backend="zoho",
        status=status,
        code=info.code,
        details=info.details,
        raw=raw,
    )
