"""A stateful fake of Zoho CRM's user-groups API (``/crm/{v6,v7,v8}/settings/user_groups``)
and of the accounts server's token refresh, for tests over real HTTP on loopback.

Behaviour follows Zoho's published docs, the v8 OpenAPI spec and the seeds in
``/work/shared/seeds``.  Choices where Zoho publishes nothing are marked *unconfirmed*
and are configurable or documented here:

* Zoho publishes no cap on name or description length, sources per request or groups per
  request.  The first three are :class:`Limits` with conservative defaults (250, 250, 200;
  over them ``INVALID_DATA`` with ``details.maximum_length`` or ``details.limit``), each
  configurable.  ``max_groups_per_request`` is a test knob, off by default; set, more groups
  in one request get HTTP 400, top level ``LIMIT_EXCEEDED`` with ``details {"api_name":
  "user_groups", "json_path": "$.user_groups", "limit": N}`` (invented);
* a batch where some entries fail: HTTP 207, one entry per item in order; all ok: 201
  (create) or 200 (update); all failed: 400;
* ids in bodies are accepted as JSON strings or numbers (the official SDK sends numbers);
  answers always carry them as strings;
* ``source.name`` is filled from the emulator's directory of users, roles and territories;
  a member added by an id it does not know joins that directory (under the name sent, or a
  made-up one);
* the ``groups`` member type follows the seeds and the prose docs; the v8 spec and the SDK
  only name ``users``, ``roles`` and ``territories``;
* the ``name`` query parameter and ``filters`` compare case-insensitively, like the
  uniqueness check (*unconfirmed*);
* a scheduled delete answers HTTP 200; the group stays until a poll of its deletion job
  reports it done (after ``deletion_job_polls`` polls answered "in progress");
* a deleted group is also removed from other groups' ``groups`` members.

Run standalone with ``python -m unigroups.testing.zoho_emulator --port 8080``.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import math
import operator
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from types import MappingProxyType
from typing import Any

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler

from unigroups.testing.faults import (
    FaultPolicy,
    FaultStats,
    OAuthClient,
    RecordedRequest,
    TokenStore,
    fault_middleware,
    oauth_fields,
    recording_middleware,
)
from unigroups.testing.server import emulator_arg_parser, fault_policy_from_args, run_forever
from unigroups.testing.zoho_directory import (
    SEED_ROLES,
    SEED_TERRITORIES,
    USERS_OF_TYPE,
    ZohoUser,
    seed_users,
)

__all__ = [
    "Limits",
    "ZohoEmulator",
    "ZohoGroup",
    "ZohoMember",
    "ZohoUser",
    "add_zoho_arguments",
    "emulator_from_args",
    "main",
    "seed_users",
]

Json = dict[str, Any]

VERSIONS = frozenset({"v6", "v7", "v8"})
SOURCE_TYPES = ("users", "roles", "groups", "territories")
SUBORDINATE_TYPES = frozenset({"roles", "territories"})
USER_TYPES = frozenset({"active", "inactive", "deleted"})
INCLUDES = frozenset({"sources_count", "sources"})
PAGE_LIMIT = 200
SOURCES_LIMIT = 200
NAME_MAX = 250
DESCRIPTION_MAX = 250
ID_MAX_DIGITS = 19
FIRST_ID = 5725767000002350003
MANAGE_GROUPS = "Crm_Implied_Manage_Groups"
INDIA = timezone(timedelta(hours=5, minutes=30))  # the docs' samples are in +05:30
BASE = "/crm/{version}/settings/user_groups"
USERS = "/crm/{version}/users"
TOKEN_PATH = "/oauth/v2/token"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

MISSING = "required field not found"
INVALID = "invalid data"
BAD_ID = "the given id seems to be invalid"

_GRANT_ERRORS = {
    "unsupported_grant_type": "unsupported_grant_type",
    "invalid_client": "invalid_client",
    "invalid_grant": "invalid_code",  # what Zoho says for an unknown refresh token
}
_FAULT_CODES = {429: "TOO_MANY_REQUESTS", 500: "INTERNAL_SERVER_ERROR", 503: "SERVICE_UNAVAILABLE"}
_COMPARATORS: dict[str, Callable[[str, str], bool]] = {
    "equal": operator.eq,
    "starts_with": str.startswith,
    "contains": operator.contains,
}


def zoho_error(code: str, message: str, details: Mapping[str, Any] | None = None) -> Json:
    return {"code": code, "details": dict(details or {}), "message": message, "status": "error"}


def _respond(status: int, body: Json | None = None) -> web.Response:
    # Zoho answers "nothing found" with 204 and no body at all.
    return web.Response(status=status) if body is None else web.json_response(body, status=status)


class _Answer(Exception):
    """A complete answer raised from deep inside a handler (bad path id, bad query...)."""

    def __init__(self, status: int, body: Json) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class _Invalid(Exception):
    """One entry of a batch failed; ``entry`` is its wrapped error."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(code)
        self.entry = zoho_error(code, message, details)


def _missing(api_name: str, json_path: str) -> _Invalid:
    return _Invalid("MANDATORY_NOT_FOUND", MISSING, api_name=api_name, json_path=json_path)


def _invalid(api_name: str, json_path: str, **extra: Any) -> _Invalid:
    return _Invalid("INVALID_DATA", INVALID, api_name=api_name, json_path=json_path, **extra)


def _bad_param(param_name: str, code: str = "INVALID_DATA", **extra: Any) -> _Answer:
    return _Answer(400, zoho_error(code, INVALID, {"param_name": param_name, **extra}))


def is_zoho_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and value.isascii()
        and value.isdigit()
        and len(value) <= ID_MAX_DIGITS
    )


def _id_text(value: object) -> str | None:
    """An id sent as a JSON string or number (the official SDK sends numbers) as its digits;
    None when it is neither (a bool is not a number here)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    return value if isinstance(value, str) and is_zoho_id(value) else None


# --- request input ------------------------------------------------------------------------


@attrs.frozen
class _SourceInput:
    type: str
    id: str
    name: str | None
    subordinates: bool | None
    sub_territories: bool | None
    delete: bool


@attrs.frozen
class _GroupInput:
    id: str | None
    name: str
    description: str | None
    has_description: bool
    sources: tuple[_SourceInput, ...]


def _optional_bool(raw: Mapping[str, Any], key: str, path: str) -> bool | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, bool):
        raise _invalid(key, f"{path}.{key}", expected_data_type="boolean")
    return value


def _parse_source(
    raw: object, path: str, known: Mapping[str, Collection[str]] | None
) -> _SourceInput:
    if not isinstance(raw, dict):
        raise _invalid("sources", path, expected_data_type="jsonobject")
    kind = raw.get("type")
    if kind is None:
        raise _missing("type", f"{path}.type")
    if kind not in SOURCE_TYPES:
        raise _invalid("type", f"{path}.type")
    source = raw.get("source")
    if source is None:
        raise _missing("source", f"{path}.source")
    if not isinstance(source, dict):
        raise _invalid("source", f"{path}.source", expected_data_type="jsonobject")
    raw_id = source.get("id")
    if raw_id is None:
        raise _missing("id", f"{path}.source.id")
    member_id = _id_text(raw_id)
    if member_id is None:
        raise _invalid("id", f"{path}.source.id")
    name = source.get("name")
    if name is not None and not isinstance(name, str):
        raise _invalid("name", f"{path}.source.name", expected_data_type="string")
    delete = _optional_bool(raw, "_delete", path) or False
    subordinates = _optional_bool(raw, "subordinates", path)
    if subordinates and kind not in SUBORDINATE_TYPES:
        raise _invalid("subordinates", f"{path}.subordinates")
    sub_territories = _optional_bool(raw, "sub_territories", path)
    if sub_territories and kind != "territories":
        raise _invalid("sub_territories", f"{path}.sub_territories")
    # Removing a member nobody knows is a harmless no-op, so only additions are checked.
    if not delete and known is not None and kind in known and member_id not in known[kind]:
        raise _invalid("id", f"{path}.source.id")
    return _SourceInput(kind, member_id, name, subordinates, sub_territories, delete)


@attrs.frozen
class Limits:
    """Caps Zoho publishes no figure for (*unconfirmed*: neither the v8 spec nor the docs give
    one); the defaults are conservative guesses, and None lifts a cap.  Over a length cap a
    request gets ``INVALID_DATA`` with ``details.maximum_length``; over the sources cap
    ``INVALID_DATA`` with ``details.limit``."""

    name_max_length: int | None = NAME_MAX
    description_max_length: int | None = DESCRIPTION_MAX
    sources_per_request: int | None = SOURCES_LIMIT


NO_LIMITS = Limits(None, None, None)


def _parse_text(raw: Mapping[str, Any], key: str, path: str, limit: int | None) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(key, f"{path}.{key}", expected_data_type="string")
    if limit is not None and len(value) > limit:
        raise _invalid(key, f"{path}.{key}", maximum_length=limit)
    return value


def _parse_group(
    raw: object,
    index: int,
    *,
    need_id: bool,
    known: Mapping[str, Collection[str]] | None,
    limits: Limits,
) -> _GroupInput:
    path = f"$.user_groups[{index}]"
    if not isinstance(raw, dict):
        raise _invalid("user_groups", path, expected_data_type="jsonobject")
    raw_id = raw.get("id")
    if need_id and raw_id is None:
        raise _missing("id", f"{path}.id")
    group_id = None if raw_id is None else _id_text(raw_id)
    if raw_id is not None and group_id is None:
        raise _invalid("id", f"{path}.id")
    if "name" not in raw:
        raise _missing("name", f"{path}.name")
    name = _parse_text(raw, "name", path, limits.name_max_length)
    if name is None or not name.strip():
        raise _invalid("name", f"{path}.name")
    description = _parse_text(raw, "description", path, limits.description_max_length)
    if "sources" not in raw:
        raise _missing("sources", f"{path}.sources")
    sources = raw["sources"]
    if not isinstance(sources, list):
        raise _invalid("sources", f"{path}.sources", expected_data_type="jsonarray")
    max_sources = limits.sources_per_request
    if max_sources is not None and len(sources) > max_sources:
        raise _invalid("sources", f"{path}.sources", limit=max_sources)
    parsed = tuple(
        _parse_source(item, f"{path}.sources[{position}]", known)
        for position, item in enumerate(sources)
    )
    return _GroupInput(group_id, name, description, "description" in raw, parsed)


def _filtered(query: Mapping[str, str], groups: Sequence[ZohoGroup]) -> Sequence[ZohoGroup]:
    """``groups`` narrowed by the ``filters`` query parameter, when there is one."""
    if "filters" not in query:
        return groups
    try:
        test = _name_predicate(json.loads(query["filters"]))
    except ValueError:
        raise _bad_param("filters") from None
    return [group for group in groups if test(group.name)]


def _name_predicate(raw: object) -> Callable[[str], bool]:
    """A ``filters`` criteria tree as a test on a group name; ValueError when malformed."""
    if not isinstance(raw, dict):
        raise ValueError("criteria must be an object")
    if "group" in raw:
        operator_name = str(raw.get("group_operator", "and")).lower()
        parts = raw["group"]
        if operator_name not in ("and", "or") or not isinstance(parts, list) or not parts:
            raise ValueError("bad criteria group")
        tests = [_name_predicate(part) for part in parts]
        combine = all if operator_name == "and" else any
        return lambda name: combine(test(name) for test in tests)
    field = raw.get("field")
    comparator = _COMPARATORS.get(str(raw.get("comparator")))
    value = raw.get("value")
    if not isinstance(field, dict) or field.get("api_name") != "name":
        raise ValueError("only the name field can be filtered on")
    if comparator is None or not isinstance(value, str):
        raise ValueError("bad comparator or value")
    needle = value.casefold()
    return lambda name: comparator(name.casefold(), needle)


@attrs.frozen
class _Paging:
    page: int
    per_page: int

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> _Paging:
        values = []
        for key, default in (("page", 1), ("per_page", PAGE_LIMIT)):
            try:
                value = int(query.get(key, default))
            except ValueError:
                raise _bad_param(key) from None
            if value < 1:
                raise _bad_param(key)
            values.append(value)
        if values[1] > PAGE_LIMIT:
            raise _bad_param("per_page", limit=PAGE_LIMIT)
        return cls(*values)

    def cut(self, items: Sequence[Any]) -> Json | None:
        """``{"info": ...}`` plus the page under ``"items"``; None when the page is empty."""
        start = (self.page - 1) * self.per_page
        chunk = list(items[start : start + self.per_page])
        if not chunk:
            return None
        more = start + self.per_page < len(items)
        info = {"per_page": self.per_page, "count": len(chunk), "page": self.page}
        return {"items": chunk, "info": {**info, "more_records": more}}


# --- state --------------------------------------------------------------------------------


@attrs.define
class ZohoMember:
    type: str
    id: str
    name: str | None
    subordinates: bool = False
    sub_territories: bool = False

    def to_json(self) -> Json:
        # The v8 spec and the SDK give both flags on every member in answers.
        return {
            "type": self.type,
            "source": {"id": self.id, "name": self.name},
            "subordinates": self.subordinates,
            "sub_territories": self.sub_territories,
        }


@attrs.define
class ZohoGroup:
    id: str
    name: str
    description: str | None
    created_time: str
    created_by: Json
    modified_time: str | None = None
    modified_by: Json | None = None
    members: dict[tuple[str, str], ZohoMember] = attrs.field(factory=dict)

    @property
    def sources(self) -> list[Json]:
        """The members in Zoho's ``sources`` shape, in the order they were added."""
        return [member.to_json() for member in self.members.values()]

    def sources_count(self, user_type: Callable[[str], str] = lambda _: "active") -> Json:
        """Members by type; ``user_type`` says whether a user id is active, inactive or
        deleted."""
        counts = collections.Counter(member.type for member in self.members.values())
        users = collections.Counter(
            user_type(member.id) for member in self.members.values() if member.type == "users"
        )
        return {
            "users": {kind: users[kind] for kind in ("active", "inactive", "deleted")},
            "roles": counts["roles"],
            "territories": counts["territories"],
            "groups": counts["groups"],
        }

    def to_json(self, *, sources: bool = False, sources_count: Json | None = None) -> Json:
        body: Json = {
            "created_by": self.created_by,
            "modified_by": self.modified_by,
            "created_time": self.created_time,
            "modified_time": self.modified_time,
            "description": self.description,
            "id": self.id,
            "name": self.name,
        }
        if sources_count is not None:
            body["sources_count"] = sources_count
        if sources:
            body["sources"] = self.sources
        return body


@attrs.define
class _DeletionJob:
    id: str
    group_id: str
    polls: int = 0
    done: bool = False


def _success(group_id: str, message: str) -> Json:
    return {"code": "SUCCESS", "details": {"id": group_id}, "message": message, "status": "success"}


def _batch(entries: list[Json], all_ok: int) -> web.Response:
    succeeded = sum(entry["status"] != "error" for entry in entries)
    status = all_ok if succeeded == len(entries) else 400 if succeeded == 0 else 207
    return _respond(status, {"user_groups": entries})


def _token_of(header: str | None) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    return token.strip() if scheme.lower() == "zoho-oauthtoken" and token.strip() else None


def _is_token_request(request: web.Request) -> bool:
    return request.path.startswith("/oauth/")


def _fault_body(status: int, message: str) -> web.Response:
    code = _FAULT_CODES.get(status, "INTERNAL_SERVER_ERROR")
    return _respond(status, zoho_error(code, message))


@attrs.define
class ZohoEmulator:
    """Zoho CRM user groups in memory, served by :meth:`make_app`.

    Knobs: ``access_tokens``/``read_only_tokens`` valid from the start (read-only ones get
    403 NO_PERMISSION on writes); ``oauth`` the client the token endpoint accepts;
    ``token_lifetime`` seconds (None: never expire; applies to the initial tokens too);
    ``limits`` the name/description lengths and sources per request (Zoho publishes no
    figure for any of them); ``max_groups_per_request`` is a *test knob*, off by default:
    Zoho publishes no cap on groups per call (the SDK sends lists), so a cap and its
    ``LIMIT_EXCEEDED`` answer are invented, for tests of a client's batching; ``users`` the
    org's users (default: :func:`seed_users`; members added by an unknown user id become
    users too, so ``source.name`` is always filled); ``roles``/``territories`` id -> name;
    ``associations`` group id -> its ``associations`` entries; ``org`` what ``GET
    /crm/{version}/org`` answers (the SDK reads its ``zgid``); ``schedule_deletes`` with
    ``deletion_job_polls``, ``deletion_pending_status`` and ``deletion_done_status``
    (the vendor's status values are *unconfirmed*); ``known_members`` maps a source type to
    the valid ids (a mapping id -> name also supplies the names answered); types absent from
    it accept any numeric id; ``refresh_limit`` refreshes per ``refresh_window`` seconds
    before the token endpoint says "Access Denied".
    """

    faults: FaultPolicy = attrs.Factory(FaultPolicy)
    access_tokens: Sequence[str] = ("test-token",)
    read_only_tokens: Sequence[str] = ()
    oauth: OAuthClient = attrs.Factory(OAuthClient)
    token_lifetime: float | None = None
    limits: Limits = attrs.Factory(Limits)
    max_groups_per_request: int | None = None
    schedule_deletes: bool = False
    deletion_job_polls: int = 1
    deletion_pending_status: str = "in_progress"
    deletion_done_status: str = "completed"
    known_members: Mapping[str, Collection[str]] | None = None
    refresh_limit: int | None = None
    refresh_window: float = 600.0
    current_user: Mapping[str, str] = attrs.Factory(
        lambda: {"name": "Patricia Boyle", "id": "3652397000000186017"}
    )
    users: Iterable[ZohoUser] = attrs.Factory(seed_users)
    roles: Mapping[str, str] = attrs.Factory(lambda: dict(SEED_ROLES))
    territories: Mapping[str, str] = attrs.Factory(lambda: dict(SEED_TERRITORIES))
    associations: dict[str, list[Json]] = attrs.Factory(dict)
    org: Mapping[str, Any] = attrs.Factory(
        lambda: {
            "id": "3652397000000441001",
            "company_name": "Zylker",
            "primary_email": "patricia.boyle@example.com",
            "zgid": "748590612",
        }
    )
    time_zone: tzinfo = INDIA
    # Off for long benchmark runs: nobody reads the log there, and it grows with every call.
    record_requests: bool = True
    requests: list[RecordedRequest] = attrs.field(factory=list, init=False)
    stats: FaultStats = attrs.field(factory=FaultStats, init=False)
    tokens: TokenStore = attrs.field(init=False)
    token_refreshes: int = attrs.field(default=0, init=False)
    _groups: dict[str, ZohoGroup] = attrs.field(factory=dict, init=False)
    # casefolded name -> id: the uniqueness check stays O(1) with 100k groups stored.
    _names: dict[str, str] = attrs.field(factory=dict, init=False)
    _jobs: dict[str, _DeletionJob] = attrs.field(factory=dict, init=False)
    _users: dict[str, ZohoUser] = attrs.field(factory=dict, init=False)
    _names_of: dict[str, dict[str, str]] = attrs.field(factory=dict, init=False)
    _ids: Iterator[int] = attrs.field(factory=lambda: itertools.count(FIRST_ID), init=False)
    _refreshed_at: collections.deque[float] = attrs.field(factory=collections.deque, init=False)

    def __attrs_post_init__(self) -> None:
        self.tokens = TokenStore(default_lifetime=self.token_lifetime, prefix="1000.")
        for token in self.access_tokens:
            self.tokens.add(token)
        for token in self.read_only_tokens:
            self.tokens.add(token, read_only=True)
        for user in self.users:
            self._users[user.id] = user
        current = self.current_user
        if current["id"] not in self._users:
            first, _, last = current["name"].rpartition(" ")
            email = current["name"].lower().replace(" ", ".") + "@example.com"
            self._users[current["id"]] = ZohoUser(current["id"], first or None, last, email)
        self._names_of = {"roles": dict(self.roles), "territories": dict(self.territories)}

    # --- helpers for tests ----------------------------------------------------------------

    @property
    def groups(self) -> Mapping[str, ZohoGroup]:
        """Stored groups by id, in creation order (read-only view)."""
        return MappingProxyType(self._groups)

    def group_named(self, name: str) -> ZohoGroup | None:
        group_id = self._names.get(name.casefold())
        return None if group_id is None else self._groups.get(group_id)

    def seed_group(
        self, name: str, description: str | None = None, sources: Iterable[Json] = ()
    ) -> str:
        """Store a group directly (no request, no 200-sources cap); returns its id."""
        raw = {"name": name, "description": description, "sources": list(sources)}
        try:
            parsed = _parse_group(raw, 0, need_id=False, known=self.known_members, limits=NO_LIMITS)
            self._check_name_free(parsed.name, 0, keep=None)
        except _Invalid as exc:
            raise ValueError(f"cannot seed group {name!r}: {exc.entry}") from None
        return self._store(parsed).id

    @property
    def directory(self) -> Mapping[str, ZohoUser]:
        """The org's users by id (read-only view)."""
        return MappingProxyType(self._users)

    def add_user(self, user: ZohoUser) -> ZohoUser:
        self._users[user.id] = user
        return user

    def finish_deletion_jobs(self) -> None:
        """Complete every scheduled deletion now."""
        for job in self._jobs.values():
            self._finish(job)

    # --- the app --------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        recording = [recording_middleware(self.requests)] if self.record_requests else []
        app = web.Application(
            middlewares=[
                *recording,
                fault_middleware(self.faults, self.stats, _fault_body, exempt=_is_token_request),
                self._zoho_errors,
                self._authorize,
            ]
        )
        router = app.router
        router.add_post(TOKEN_PATH, self._refresh)
        router.add_get(BASE, self._list)
        router.add_post(BASE, self._create)
        router.add_put(BASE, self._update_many)
        router.add_get(BASE + "/actions/deletion_jobs", self._deletion_job)
        router.add_get(BASE + "/actions/associated_users_count", self._associated_users_count)
        router.add_get(BASE + "/{id}", self._get)
        router.add_put(BASE + "/{id}", self._update_one)
        router.add_delete(BASE + "/{id}", self._delete)
        router.add_get(BASE + "/{id}/sources", self._sources)
        router.add_get(BASE + "/{id}/actions/sources_count", self._sources_count)
        router.add_get(BASE + "/{id}/actions/associations", self._associations)
        router.add_get(BASE + "/{id}/associated_users/actions/grouped_counts", self._grouped_counts)
        router.add_get("/crm/{version}/org", self._org)
        router.add_get(USERS, self._list_users)
        router.add_get(USERS + "/{user_id}", self._get_user)
        router.add_get(USERS + "/{user_id}/actions/associated_groups", self._associated_groups)
        return app

    @web.middleware
    async def _zoho_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except _Answer as answer:
            return _respond(answer.status, answer.body)
        except web.HTTPNotFound:
            message = "Please check if the URL trying to access is a correct one"
            return _respond(404, zoho_error("INVALID_URL_PATTERN", message))
        except web.HTTPMethodNotAllowed:
            message = "The http request method type is not a valid one"
            return _respond(400, zoho_error("INVALID_REQUEST_METHOD", message))

    @web.middleware
    async def _authorize(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if _is_token_request(request) or request.match_info.http_exception is not None:
            return await handler(request)
        if request.match_info.get("version") not in VERSIONS:
            raise web.HTTPNotFound()
        token = _token_of(request.headers.get("Authorization"))
        if token is None or self.tokens.check(token) != "ok":
            raise _Answer(401, zoho_error("INVALID_TOKEN", "invalid oauth token"))
        if request.method not in READ_METHODS and self.tokens.is_read_only(token):
            details = {"permissions": [MANAGE_GROUPS]}
            raise _Answer(403, zoho_error("NO_PERMISSION", "permission denied", details))
        return await handler(request)

    # --- accounts server ------------------------------------------------------------------

    async def _refresh(self, request: web.Request) -> web.Response:
        # Zoho's accounts server answers failures with HTTP 200 and an "error" field.
        verdict = self.oauth.check(await oauth_fields(request))
        if verdict != "ok":
            return _respond(200, {"error": _GRANT_ERRORS[verdict]})
        if self._refresh_throttled():
            return _respond(
                200,
                {
                    "error_description": "You have made too many requests continuously. "
                    "Please try again after some time.",
                    "error": "Access Denied",
                    "status": "failure",
                },
            )
        self.token_refreshes += 1
        lifetime = 3600 if self.token_lifetime is None else math.ceil(self.token_lifetime)
        return _respond(
            200,
            {
                "access_token": self.tokens.issue(),
                "api_domain": f"{request.scheme}://{request.host}",
                "token_type": "Bearer",
                "expires_in": lifetime,
            },
        )

    def _refresh_throttled(self) -> bool:
        if self.refresh_limit is None:
            return False
        now = time.monotonic()
        while self._refreshed_at and now - self._refreshed_at[0] > self.refresh_window:
            self._refreshed_at.popleft()
        if len(self._refreshed_at) >= self.refresh_limit:
            return True
        self._refreshed_at.append(now)
        return False

    # --- reads ----------------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.Response:
        query = request.query
        groups: Sequence[ZohoGroup] = list(self._groups.values())
        if "name" in query:
            named = self.group_named(query["name"])
            groups = [] if named is None else [named]
        groups = _filtered(query, groups)
        return self._groups_page(query, groups)

    async def _get(self, request: web.Request) -> web.Response:
        group = self._groups.get(request.match_info["id"])
        if group is None:
            return _respond(204)  # the v8 spec: no content for an id with no group
        shown = group.to_json(sources_count=self._sources_count_of(group))
        return _respond(200, {"user_groups": [shown]})

    async def _sources(self, request: web.Request) -> web.Response:
        group = self._group_in_path(request)
        query = request.query
        paging = _Paging.from_query(query)
        kind = query.get("type")
        if kind is not None and kind not in SOURCE_TYPES:
            # The v8 spec's answer names the pattern the value missed.
            raise _bad_param("type", "PATTERN_NOT_MATCHED", regex="|".join(SOURCE_TYPES))
        user_type = query.get("user_type")
        if user_type is not None and user_type not in USER_TYPES:
            raise _bad_param("user_type", "PATTERN_NOT_MATCHED", regex="active|inactive|deleted")
        members = [
            member.to_json()
            for member in group.members.values()
            if (kind is None or member.type == kind)
            and (
                user_type is None
                or member.type != "users"
                or self._user_type(member.id) == user_type
            )
        ]
        page = paging.cut(members)
        if page is None:
            return _respond(204)
        return _respond(200, {"sources": page["items"], "info": page["info"]})

    async def _sources_count(self, request: web.Request) -> web.Response:
        group = self._group_in_path(request)
        return _respond(200, {"sources_count": [self._sources_count_of(group)]})

    async def _associations(self, request: web.Request) -> web.Response:
        group = self._group_in_path(request)
        found = self.associations.get(group.id)
        if not found:
            return _respond(204)
        return _respond(200, {"associations": [dict(entry) for entry in found]})

    async def _associated_users_count(self, request: web.Request) -> web.Response:
        query = request.query
        paging = _Paging.from_query(query)
        groups: Sequence[ZohoGroup] = list(self._groups.values())
        groups = _filtered(query, groups)
        page = paging.cut(groups)
        if page is None:
            return _respond(204)
        counts = [
            {
                "user_group": {"name": group.name, "id": group.id},
                "count": sum(member.type == "users" for member in group.members.values()),
            }
            for group in page["items"]
        ]
        return _respond(200, {"associated_users_count": counts, "info": page["info"]})

    async def _grouped_counts(self, request: web.Request) -> web.Response:
        group = self._group_in_path(request)
        group_by = request.query.get("group_by", "status")
        if group_by != "status":
            raise _bad_param("group_by")
        users = self._sources_count_of(group)["users"]
        counts = [{"status": status, "count": n} for status, n in users.items() if n]
        if not counts:
            return _respond(204)
        info = {"per_page": PAGE_LIMIT, "count": len(counts), "page": 1, "more_records": False}
        return _respond(200, {"grouped_counts": counts, "info": info})

    # --- users ----------------------------------------------------------------------------

    async def _list_users(self, request: web.Request) -> web.Response:
        query = request.query
        paging = _Paging.from_query(query)
        kind = query.get("type", "AllUsers")
        users: Sequence[ZohoUser] = list(self._users.values())
        if kind == "CurrentUser":
            users = [user for user in users if user.id == self.current_user["id"]]
        elif kind in USERS_OF_TYPE:
            users = [user for user in users if USERS_OF_TYPE[kind](user)]
        else:
            raise _bad_param("type")
        if "ids" in query:
            wanted = {part.strip() for part in query["ids"].split(",") if part.strip()}
            if not all(is_zoho_id(part) for part in wanted):
                raise _bad_param("ids")
            users = [user for user in users if user.id in wanted]
        page = paging.cut(users)
        if page is None:
            return _respond(204)
        shown = [user.to_json() for user in page["items"]]
        return _respond(200, {"users": shown, "info": page["info"]})

    async def _org(self, request: web.Request) -> web.Response:
        # Only what the official SDK reads when it keys its token store by user and org
        # (its default ``find_user``): the org's ``zgid``.
        return _respond(200, {"org": [dict(self.org)]})

    async def _get_user(self, request: web.Request) -> web.Response:
        user = self._users.get(request.match_info["user_id"])
        if user is None:
            return _respond(204)
        return _respond(200, {"users": [user.to_json()]})

    async def _associated_groups(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        if not is_zoho_id(user_id):
            raise _Answer(400, zoho_error("INVALID_DATA", BAD_ID, {"resource_path_index": 0}))
        groups = [group for group in self._groups.values() if ("users", user_id) in group.members]
        return self._groups_page(request.query, groups)

    def _groups_page(self, query: Mapping[str, str], groups: Sequence[ZohoGroup]) -> web.Response:
        """A page of ``groups`` as a list answer: ``page``, ``per_page`` and ``include`` read
        from ``query``; 204 past the last page."""
        paging = _Paging.from_query(query)
        include = {part.strip() for part in query.get("include", "").split(",") if part.strip()}
        if not include <= INCLUDES:
            raise _bad_param("include")
        page = paging.cut(groups)  # cut first: only the page's groups are turned into JSON
        if page is None:
            return _respond(204)
        counted = "sources_count" in include
        shown = [
            group.to_json(
                sources="sources" in include,
                sources_count=self._sources_count_of(group) if counted else None,
            )
            for group in page["items"]
        ]
        return _respond(200, {"user_groups": shown, "info": page["info"]})

    async def _deletion_job(self, request: web.Request) -> web.Response:
        job_id = request.query.get("job_id")
        if not job_id:
            raise _Answer(
                400,
                zoho_error(
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    {"param_name": "job_id"},
                ),
            )
        job = self._jobs.get(job_id)
        if job is None:
            return _respond(204)  # the v8 spec: no content when no such job is pending
        job.polls += 1
        if job.polls > self.deletion_job_polls:
            self._finish(job)
        status = self.deletion_done_status if job.done else self.deletion_pending_status
        return _respond(200, {"deletion_jobs": [{"id": job.id, "Status": status}]})

    # --- writes ---------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        items = await _items(request, self.max_groups_per_request)
        return _batch([self._create_entry(raw, i) for i, raw in enumerate(items)], 201)

    async def _update_one(self, request: web.Request) -> web.Response:
        group = self._group_in_path(request)
        items = await _items(request, 1)
        try:
            parsed = _parse_group(
                items[0], 0, need_id=False, known=self.known_members, limits=self.limits
            )
            entry = self._apply_update(group, parsed, 0)
        except _Invalid as exc:
            entry = exc.entry
        return _batch([entry], 200)

    async def _update_many(self, request: web.Request) -> web.Response:
        items = await _items(request, self.max_groups_per_request)
        entries = []
        for index, raw in enumerate(items):
            try:
                parsed = _parse_group(
                    raw, index, need_id=True, known=self.known_members, limits=self.limits
                )
                group = self._groups.get(parsed.id or "")
                if group is None:
                    raise _invalid("id", f"$.user_groups[{index}].id")
                entries.append(self._apply_update(group, parsed, index))
            except _Invalid as exc:
                entries.append(exc.entry)
        return _batch(entries, 200)

    async def _delete(self, request: web.Request) -> web.Response:
        group = self._group_in_path(request)
        if not self.schedule_deletes:
            self._remove(group.id)
            return _batch([_success(group.id, "User Group deleted successfully")], 200)
        job = next((job for job in self._jobs.values() if job.group_id == group.id), None)
        if job is None or job.done:
            job = _DeletionJob(self._new_id(), group.id)
            self._jobs[job.id] = job
        entry = {
            "code": "SCHEDULED",
            "details": {"job_id": job.id},
            "message": "User Group deletion scheduled successfully",
            "status": "success",  # the spec and the SDK allow only "success" here
        }
        return _respond(200, {"user_groups": [entry]})

    # --- state changes --------------------------------------------------------------------

    def _create_entry(self, raw: object, index: int) -> Json:
        try:
            parsed = _parse_group(
                raw, index, need_id=False, known=self.known_members, limits=self.limits
            )
            self._check_name_free(parsed.name, index, keep=None)
        except _Invalid as exc:
            return exc.entry
        return _success(self._store(parsed).id, "User Group Created successfully")

    def _store(self, parsed: _GroupInput) -> ZohoGroup:
        now, user = self._now(), dict(self.current_user)
        group = ZohoGroup(
            id=self._new_id(),
            name=parsed.name,
            description=parsed.description,
            created_time=now,
            created_by=user,
            modified_time=now,
            modified_by=dict(user),
        )
        self._merge_sources(group, parsed.sources)
        self._groups[group.id] = group
        self._names[group.name.casefold()] = group.id
        return group

    def _apply_update(self, group: ZohoGroup, parsed: _GroupInput, index: int) -> Json:
        self._check_name_free(parsed.name, index, keep=group.id)
        self._names.pop(group.name.casefold(), None)
        group.name = parsed.name
        self._names[group.name.casefold()] = group.id
        if parsed.has_description:
            group.description = parsed.description
        self._merge_sources(group, parsed.sources)
        group.modified_time = self._now()
        group.modified_by = dict(self.current_user)
        return _success(group.id, "User Group Updated successfully")

    def _merge_sources(self, group: ZohoGroup, sources: Iterable[_SourceInput]) -> None:
        for source in sources:
            key = (source.type, source.id)
            if source.delete:
                group.members.pop(key, None)
                continue
            group.members[key] = ZohoMember(
                source.type,
                source.id,
                self._member_name(source),
                bool(source.subordinates),
                bool(source.sub_territories),
            )

    def _known_name(self, source: _SourceInput) -> str | None:
        known = (self.known_members or {}).get(source.type)
        return known.get(source.id) if isinstance(known, Mapping) else None

    def _member_name(self, source: _SourceInput) -> str:
        """What Zoho answers as ``source.name``: the name in its own directory, never null.

        A member nobody knows yet joins the directory (a user, role or territory of the
        org), under the name the request gave or a made-up one.
        """
        known = self._known_name(source)
        if source.type == "users":
            user = self._users.get(source.id)
            if user is None:
                full = known or source.name or f"User {source.id[-6:]}"
                first, _, last = full.rpartition(" ")
                email = f"user{source.id}@example.com"
                user = self.add_user(ZohoUser(source.id, first or None, last, email))
            return user.full_name
        if source.type == "groups":
            group = self._groups.get(source.id)
            if group is not None:
                return group.name
            return known or source.name or f"Group {source.id[-6:]}"
        names = self._names_of.setdefault(source.type, {})
        if source.id not in names:
            label = source.type[:-1].capitalize()
            names[source.id] = known or source.name or f"{label} {source.id[-6:]}"
        return names[source.id]

    def _user_type(self, user_id: str) -> str:
        user = self._users.get(user_id)
        return "active" if user is None else user.user_type

    def _sources_count_of(self, group: ZohoGroup) -> Json:
        return group.sources_count(self._user_type)

    def _check_name_free(self, name: str, index: int, *, keep: str | None) -> None:
        clash = self.group_named(name)
        if clash is not None and clash.id != keep:
            raise _Invalid(
                "DUPLICATE_DATA",
                "duplicate data",
                api_name="name",
                json_path=f"$.user_groups[{index}].name",
            )

    def _remove(self, group_id: str) -> None:
        gone = self._groups.pop(group_id, None)
        if gone is not None:
            self._names.pop(gone.name.casefold(), None)
        for other in self._groups.values():
            other.members.pop(("groups", group_id), None)

    def _finish(self, job: _DeletionJob) -> None:
        if not job.done:
            job.done = True
            self._remove(job.group_id)

    def _group_in_path(self, request: web.Request) -> ZohoGroup:
        group = self._groups.get(request.match_info["id"])
        if group is None:
            raise _Answer(400, zoho_error("INVALID_DATA", BAD_ID, {"resource_path_index": 0}))
        return group

    def _new_id(self) -> str:
        return str(next(self._ids))

    def _now(self) -> str:
        return datetime.now(self.time_zone).isoformat(timespec="seconds")


async def _items(request: web.Request, limit: int | None) -> list[Any]:
    """The ``user_groups`` array of a write, after the checks on the request as a whole."""
    try:
        body = json.loads(await request.text())
    except ValueError:
        raise _Answer(400, zoho_error("INVALID_DATA", "body is not a valid JSON")) from None
    where = {"api_name": "user_groups", "json_path": "$.user_groups"}
    if not isinstance(body, dict) or "user_groups" not in body:
        raise _Answer(400, zoho_error("MANDATORY_NOT_FOUND", MISSING, where))
    items = body["user_groups"]
    if not isinstance(items, list) or not items:
        raise _Answer(
            400, zoho_error("INVALID_DATA", INVALID, {**where, "expected_data_type": "jsonarray"})
        )
    if limit is not None and len(items) > limit:
        message = f"the number of user groups exceeds the limit of {limit} per request"
        raise _Answer(400, zoho_error("LIMIT_EXCEEDED", message, {**where, "limit": limit}))
    return items


TOKEN_HELP = (
    "the access token the emulator accepts, sent as 'Authorization: Zoho-oauthtoken TOKEN'; "
    "any other gets 401 INVALID_TOKEN"
)


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def add_zoho_arguments(parser: argparse.ArgumentParser, *, prefix: str = "") -> None:
    """The Zoho emulator's own options (also offered by ``unigroups emulate zoho``).

    For the caps Zoho publishes no figure for, 0 lifts the cap.
    """
    parser.add_argument(
        "--seed-groups",
        type=_count,
        default=0,
        metavar="N",
        help=f"{prefix}store N groups (named 'seeded group N') before serving, e.g. for listings",
    )
    for flag, default, what in (
        ("--name-max-length", NAME_MAX, "characters a group name may have"),
        ("--description-max-length", DESCRIPTION_MAX, "characters a description may have"),
        ("--max-sources-per-request", SOURCES_LIMIT, "members one group in a request may carry"),
    ):
        parser.add_argument(
            flag,
            type=_count,
            default=default,
            metavar="N",
            help=f"{prefix}{what} (default %(default)s; Zoho publishes no figure; 0: no cap)",
        )
    parser.add_argument(
        "--test-max-groups-per-request",
        "--max-groups-per-request",
        dest="max_groups_per_request",
        type=_count,
        default=0,
        metavar="N",
        help=f"{prefix}test knob: answer an invented LIMIT_EXCEEDED to a create/update with more "
        "than N groups (default 0: no cap, as Zoho publishes none)",
    )


def emulator_from_args(args: argparse.Namespace) -> ZohoEmulator:
    """An emulator configured by the options of :func:`add_zoho_arguments` and the common
    ones, with its ``--seed-groups`` stored."""
    emulator = ZohoEmulator(
        faults=fault_policy_from_args(args),
        access_tokens=(args.token,),
        limits=Limits(
            args.name_max_length or None,
            args.description_max_length or None,
            args.max_sources_per_request or None,
        ),
        max_groups_per_request=args.max_groups_per_request or None,
        record_requests=False,  # nobody can read the log of a standalone process
    )
    for n in range(args.seed_groups):
        emulator.seed_group(f"seeded group {n:07d}")
    return emulator


def main(argv: Sequence[str] | None = None) -> None:
    parser = emulator_arg_parser(
        "python -m unigroups.testing.zoho_emulator",
        "Zoho CRM user-groups emulator",
        token_help=TOKEN_HELP,
    )
    add_zoho_arguments(parser)
    args = parser.parse_args(argv)
    run_forever(emulator_from_args(args).make_app(), args.port, args.host)


if __name__ == "__main__":
    main()
