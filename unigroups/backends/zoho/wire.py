"""Zoho's JSON for user groups, to and from the neutral models. The only module that knows
Zoho's field names.

What unigroups sends is attrs classes that one cattrs converter turns into JSON, with the
renames declared (``_delete``). What Zoho answers is read by one reader per shape: a group
and its ``sources[]`` by hand, straight into the models' validating constructors, and the
entries of an action answer through the converter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, NoReturn, TypeVar

import attrs
import cattrs
from cattrs.fns import identity
from cattrs.gen import make_dict_unstructure_fn, override

from ...errors import (
    AuthenticationError,
    BackendError,
    DecodingError,
    DuplicateGroupError,
    InvalidDataError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ValidationError,
    build_error,
)
from ...http import VendorError
from ...models import UNSET, Group, Member, MemberKind, Unset, User
from ..decoding import strict, structure_answer

__all__ = [
    "ZohoAnswerEntry",
    "ZohoSource",
    "ZohoSourceRef",
    "ZohoUserGroup",
    "changes_to_sources",
    "group_from_zoho",
    "group_to_zoho",
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
    """One ``sources[]`` item as unigroups sends it: a member, or with ``delete`` its removal."""

    source: ZohoSourceRef
    type: str
    subordinates: bool | None = None
    delete: bool | None = None  # "_delete" on the wire


@attrs.frozen
class ZohoUserGroup:
    """One ``user_groups[]`` item as unigroups sends it."""

    name: str
    id: str | None = None
    description: str | None = None
    sources: list[ZohoSource] | None = None


@attrs.frozen
class ZohoAnswerEntry:
    """One entry of an action answer: ``{"code", "details", "message", "status"}``."""

    code: str
    status: str
    message: str = ""
    details: dict[str, Any] = attrs.field(factory=dict)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(omit_if_default=True)
    converter.register_structure_hook(str, strict(str))
    # JSON values as they are, written inline by the generated hooks: without these, every
    # optional field looks its hook up again per value (a create sends 200 sources by default).
    converter.register_unstructure_hook(str | None, identity)
    converter.register_unstructure_hook(bool | None, identity)
    converter.register_unstructure_hook(
        ZohoSource,
        make_dict_unstructure_fn(
            ZohoSource, converter, _cattrs_omit_if_default=True, delete=override(rename="_delete")
        ),
    )
    source_json = converter.get_unstructure_hook(ZohoSource)
    converter.register_unstructure_hook(
        list[ZohoSource] | None,
        lambda sources: None if sources is None else [source_json(s) for s in sources],
    )
    return converter


converter: Final = _make_converter()

T = TypeVar("T")


def structure(data: Any, cls: type[T], what: str) -> T:
    return structure_answer(converter, data, cls, backend="zoho", what=what)


# -- models to Zoho -----------------------------------------------------------------------


def source_for(member: Member, *, delete: bool = False) -> ZohoSource:
    # Subordinates are sent for roles and territories always, so that an update can also
    # turn them off.
    hierarchical = member.kind in _HIERARCHICAL and not delete
    return ZohoSource(
        ZohoSourceRef(member.id, member.name),
        KIND_TO_TYPE[member.kind],
        member.include_subordinates if hierarchical else None,
        True if delete else None,
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
    """The ``user_groups[]`` item that creates a group (no description: the key left out)."""
    return group_to_zoho(
        name,
        description=UNSET if description is None else description,
        sources=changes_to_sources(members, ()),
    )


def changes_to_sources(add: Iterable[Member], remove: Iterable[Member]) -> list[ZohoSource]:
    return [*(source_for(m) for m in add), *(source_for(m, delete=True) for m in remove)]


def request_body(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"user_groups": list(items)}


# -- Zoho to models -----------------------------------------------------------------------
#
# One reader per shape, written out by hand, straight into Group(...) and Member(...) and so
# through their validators: a listing reads 200 groups a page, a member page 200 sources.
# cattrs' generated hooks, with a wire object in between, cost twice as much a group and took
# the 0 ms listing benchmark from ~1.45x raw aiohttp to ~1.9x (bench/README.md, "One reader
# per shape"). A value of the wrong type is refused naming its JSON path, in the words cattrs
# uses for the action entries, which it still reads: a few an answer.

_TIMESTAMP: Final = "datetime.datetime | None"  # the words of the messages cattrs gave


def _not_in_shape(what: str, raw: Any, detail: str) -> NoReturn:
    raise DecodingError(
        f"the answer for {what} is not in the documented shape: {detail}", backend="zoho", raw=raw
    )


def _refuse(
    data: Mapping[str, Any], key: str, expected: str, path: str, what: str, raw: Any
) -> NoReturn:
    problem = (
        "invalid value for type, expected " + expected if key in data else "required field missing"
    )
    _not_in_shape(what, raw, f"{problem} @ {path}.{key}")


def _member(item: Any, at: str, index: int, what: str, raw: Any) -> Member:
    """A ``sources[]`` item, ``at[index]`` in the answer for ``what`` (``raw``), to a member
    (the path is spelt out only for an error: this runs 200 times a page)."""
    if type(item) is not dict:
        _not_in_shape(what, raw, f"invalid value for type, expected an object @ {at}[{index}]")
    ref = item.get("source")
    kind_name = item.get("type")
    subordinates = item.get("subordinates")
    sub_territories = item.get("sub_territories")  # in the v8 spec and the SDK: subordinates
    if type(ref) is not dict:
        _refuse(item, "source", "an object", f"{at}[{index}]", what, raw)
    member_id = ref.get("id")
    member_name = ref.get("name")
    if type(member_id) is not str:
        _refuse(ref, "id", "str", f"{at}[{index}].source", what, raw)
    if member_name is not None and type(member_name) is not str:
        _refuse(ref, "name", "str | None", f"{at}[{index}].source", what, raw)
    if type(kind_name) is not str:
        _refuse(item, "type", "str", f"{at}[{index}]", what, raw)
    if subordinates is not None and type(subordinates) is not bool:
        _refuse(item, "subordinates", "bool | None", f"{at}[{index}]", what, raw)
    if sub_territories is not None and type(sub_territories) is not bool:
        _refuse(item, "sub_territories", "bool | None", f"{at}[{index}]", what, raw)
    kind = TYPE_TO_KIND.get(kind_name)
    if kind is None:
        raise DecodingError(f"Zoho sent a member of unknown type {kind_name!r}", backend="zoho")
    flag = (subordinates is True or sub_territories is True) and kind in _HIERARCHICAL
    try:
        return Member(kind, member_id, member_name, flag)
    except ValidationError as exc:  # the vendor's data broke a model rule (a blank id, say)
        raise DecodingError(
            f"Zoho sent a member unigroups cannot represent: {exc}", backend="zoho"
        ) from None


def members_from_answer(data: Any) -> list[Member]:
    """A ``/sources`` page (``None`` for a 204) to members."""
    if data is None:
        return []
    items = _key(data, "sources")
    what = "the group's members"
    if type(items) is not list:
        _not_in_shape(what, items, "invalid value for type, expected a list @ $")
    return [_member(item, "$", n, what, items) for n, item in enumerate(items)]


def group_from_zoho(data: Any, members: Sequence[Member] | None = None) -> Group:
    """A ``user_groups[]`` item to a group. ``members``, when given, are its members (a single
    group's read carries no ``sources``: they come a page at a time); else its ``sources``."""
    what = "a group"
    if type(data) is not dict:
        _not_in_shape(what, data, "invalid value for type, expected an object @ $")
    name = data.get("name")
    group_id = data.get("id")
    description = data.get("description")
    created = data.get("created_time")
    modified = data.get("modified_time")
    if type(name) is not str:
        _refuse(data, "name", "str", "$", what, data)
    if group_id is not None and type(group_id) is not str:
        _refuse(data, "id", "str | None", "$", what, data)
    if description is not None and type(description) is not str:
        _refuse(data, "description", "str | None", "$", what, data)
    # ISO 8601 with the offset Zoho writes (2024-05-06T10:11:12+05:30), kept as sent.
    try:
        created_at = None if created is None else datetime.fromisoformat(created)
    except (TypeError, ValueError):
        _refuse(data, "created_time", _TIMESTAMP, "$", what, data)
    try:
        if modified == created:  # a group never changed: one timestamp to read, not two
            modified_at = created_at
        else:
            modified_at = None if modified is None else datetime.fromisoformat(modified)
    except (TypeError, ValueError):
        _refuse(data, "modified_time", _TIMESTAMP, "$", what, data)
    if group_id is None:
        raise DecodingError("Zoho sent a group without an id", backend="zoho", raw=data)
    if members is not None:
        members = tuple(members)
    elif (sources := data.get("sources")) is not None:
        if type(sources) is not list:
            _refuse(data, "sources", "a list or None", "$", what, data)
        members = [_member(item, "$.sources", n, what, data) for n, item in enumerate(sources)]
    try:
        # Positional, in the order of Group's fields: keywords cost a quarter more a group,
        # and a listing builds 200 a page. test_zoho_wire.py reads every field back by name.
        return Group(
            name, description, members, group_id, True, None, created_at, modified_at, "zoho", data
        )
    except ValidationError as exc:  # the vendor's data broke a model rule (a blank name, say)
        raise DecodingError(
            f"Zoho sent a group unigroups cannot represent: {exc}", backend="zoho", raw=data
        ) from None


def groups_page(data: Any) -> tuple[list[Any], bool]:
    """A list page (``None`` for a 204) to its raw groups and whether more pages follow."""
    if data is None:
        return [], False
    items = _key(data, "user_groups")
    if not isinstance(items, list):
        raise DecodingError("Zoho's user_groups is not a list", backend="zoho", raw=data)
    info = data.get("info") or {}
    more = info.get("more_records") if isinstance(info, dict) else None
    return items, more is True


def sources_page_more(data: Any) -> bool:
    info = data.get("info") if isinstance(data, dict) else None
    return isinstance(info, dict) and info.get("more_records") is True


def single_group(data: Any) -> Any:
    items = _key(data, "user_groups")
    if not isinstance(items, list) or len(items) != 1:
        raise DecodingError("Zoho's answer holds no single group", backend="zoho", raw=data)
    return items[0]


def single_name(data: Any) -> str:
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise DecodingError("Zoho sent a group without a name", backend="zoho", raw=data)
    return name


def deletion_job_status(data: Any) -> str:
    """The status of a deletion job answer, lower-cased (the values are not documented)."""
    jobs = _key(data, "deletion_jobs")
    if not isinstance(jobs, list) or not jobs or not isinstance(jobs[0], dict):
        raise DecodingError("Zoho sent no deletion job", backend="zoho", raw=data)
    status = jobs[0].get("Status", jobs[0].get("status"))
    if not isinstance(status, str):
        raise DecodingError("Zoho's deletion job has no status", backend="zoho", raw=data)
    return status.lower()


def answer_entries(data: Any, expected: int) -> list[ZohoAnswerEntry]:
    """The per-group entries of an action answer, one for each group sent, in order."""
    entries = structure(_key(data, "user_groups"), list[ZohoAnswerEntry], "an action")
    if len(entries) != expected:
        raise DecodingError(
            f"Zoho answered {len(entries)} entries for {expected} groups sent",
            backend="zoho",
            raw=data,
        )
    return entries


def has_entries(raw: Any, count: int) -> bool:
    """Whether an answer (a 400's body, say) holds one ``user_groups`` entry per group sent."""
    entries = raw.get("user_groups") if isinstance(raw, dict) else None
    return isinstance(entries, list) and len(entries) == count


def created_id(entry: ZohoAnswerEntry) -> str | None:
    """The new group's id in a create's answer entry, if it is a string."""
    group_id = entry.details.get("id")
    return group_id if isinstance(group_id, str) else None


def deletion_job_id(entry: ZohoAnswerEntry) -> str:
    """The job a ``SCHEDULED`` delete answer names (empty when it names none)."""
    return str(entry.details.get("job_id", ""))


def name_of(item: Any) -> str | None:
    """A listed group's name, read without converting the group (a look-up by name)."""
    name = item.get("name") if isinstance(item, dict) else None
    return name if isinstance(name, str) else None


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
        raise DecodingError(f"Zoho's answer has no {key!r}", backend="zoho", raw=data)
    return data[key]


# -- users (GET /users, /users/{id}, /users/{id}/actions/associated_groups) ----------------

# The ``type`` of ``GET /users``. ActiveUsers is in the v8 spec's enum; AllUsers (active and
# inactive) is named by Zoho's prose docs only: the spec's enum omits it.
ACTIVE_USERS: Final = "ActiveUsers"
ALL_USERS: Final = "AllUsers"


def user_from_zoho(data: Any) -> User:
    """A ``users[]`` item to a user: ``id``, ``full_name``, ``email``, ``status``."""
    what = "a user"
    if type(data) is not dict:
        _not_in_shape(what, data, "invalid value for type, expected an object @ $")
    user_id = data.get("id")
    name = data.get("full_name")
    email = data.get("email")
    status = data.get("status")
    if type(user_id) is not str:
        _refuse(data, "id", "str", "$", what, data)
    if name is not None and type(name) is not str:
        _refuse(data, "full_name", "str | None", "$", what, data)
    if email is not None and type(email) is not str:
        _refuse(data, "email", "str | None", "$", what, data)
    if status is not None and type(status) is not str:
        _refuse(data, "status", "str | None", "$", what, data)
    # Zoho's statuses: active, disabled, deleted (and others unnamed): only "active" is.
    active = status is None or status.lower() == "active"
    try:
        return User(user_id, name or None, email or None, active, "zoho", data)
    except ValidationError as exc:  # a blank id, say
        raise DecodingError(
            f"Zoho sent a user unigroups cannot represent: {exc}", backend="zoho", raw=data
        ) from None


def users_page(data: Any) -> tuple[list[User], bool]:
    """A ``GET /users`` page (``None`` for a 204) to users and whether more pages follow."""
    if data is None:
        return [], False
    items = _key(data, "users")
    if not isinstance(items, list):
        raise DecodingError("Zoho's users is not a list", backend="zoho", raw=data)
    return [user_from_zoho(item) for item in items], sources_page_more(data)


def single_user(data: Any) -> User:
    users, _ = users_page(data)
    if len(users) != 1:
        raise DecodingError("Zoho's answer holds no single user", backend="zoho", raw=data)
    return users[0]


def associated_groups_page(data: Any) -> tuple[list[Group], bool]:
    """A user's ``associated_groups`` page (``None`` for a 204: none) to groups (members not
    loaded: the answer carries none) and whether more pages follow."""
    if data is None:
        return [], False
    items, more = groups_page(data)
    return [group_from_zoho(item) for item in items], more


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
        message = f"{message}: the id in the path names nothing there"
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
