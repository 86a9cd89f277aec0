"""A stateful fake of SuperOffice's ``List/UserGroup/Items`` and ``User`` REST endpoints and
of the Online token endpoint, for tests over real HTTP on loopback.

Behaviour follows SuperOffice's published reference (the PUT page is in
``/work/shared/seeds``).  Choices where SuperOffice publishes nothing (*unconfirmed*):

* a second group with an existing ``Value`` (compared case-insensitively, soft-deleted
  groups included, as the database's unique index does): HTTP 409 with
  ``{"Error": true, "ErrorType": "DuplicateKey", "Message": ..., "ExceptionType":
  "SoDuplicateKeyException"}``;
* ``Value`` over 239 or ``Tooltip`` over 254 characters, or a field of the wrong type:
  HTTP 400 ``{"Message": ..., "ExceptionType": "SoValidationException"}``;
* other JSON errors carry ``Message`` and ``ExceptionType`` like .NET's SoExceptionInfo;
  ``html_errors=True`` turns every error answer into an HTML page instead;
* POST ignores any ``Id`` in the body and always creates; fields missing from a POST or
  PUT body take the carrier defaults (``""``, ``0``, ``false``): PUT replaces all four;
* the list is ordered by ``Rank``, then ``Id``;
* a body's property names are bound regardless of case, as ASP.NET does; a property the
  carrier does not have, or a POST/PUT without a ``Value``, is HTTP 400 (never silently
  dropped); URL paths match regardless of case and of a trailing slash;
* users (``superoffice_directory``): ``GET /User`` serves the AllUsers archive with an OData
  subset (``$select``, ``$filter`` with ``eq``/``in``/``and``/``or``, ``$top`` capped at
  ``user_page_limit``, ``$skip``, ``odata.nextLink`` while rows remain); ``GET/PUT/PATCH
  /User/{id}`` (JSON Patch, or merge patch for an object body); a failed ``test`` is 409; a
  user's primary group can be replaced, never emptied (400); ``user_management=False``
  answers 403 on every ``/User`` path, as Online does for partner apps.

Run standalone with ``python -m unigroups.testing.superoffice_emulator --port 8080``
(``--seed-users N``, ``--users-file users.json``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import html
import itertools
import json
import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, TypeVar

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler
from yarl import URL

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
from unigroups.testing.jsondoc import (
    BodyError,
    PatchConflict,
    apply_json_patch,
    apply_merge_patch,
    bind,
)
from unigroups.testing.odata import FilterError, parse_filter
from unigroups.testing.server import emulator_arg_parser, fault_policy_from_args, run_forever
from unigroups.testing.superoffice_directory import (
    ARCHIVE_COLUMNS,
    Associate,
    SeedUser,
    generated_users,
    read_users_file,
)

__all__ = [
    "SeedUser",
    "SuperOfficeEmulator",
    "UserGroup",
    "add_superoffice_arguments",
    "emulator_from_args",
    "main",
]

Json = dict[str, Any]
T = TypeVar("T")

BASE_PATH = "/Cust12345/api/v1"
ITEMS = "/List/UserGroup/Items"
USERS = "/User"
TOKEN_PATH = "/login/common/oauth/tokens"
VALUE_MAX = 239
TOOLTIP_MAX = 254
INT32_MAX = 2**31 - 1
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

NO_ENTITY = "Entity to save is not in request body."
NOT_FOUND = "Not Found."
DENIED = "Authorization has been denied for this request."
NO_USER_MANAGEMENT = (
    "The User agent is not available in Online by default. "
    "User management is not allowed for partner apps."
)
FIRST_ASSOCIATE_ID = 101
USER_PAGE_LIMIT = 1000
CARRIER_FIELDS = ("Value", "Tooltip", "Id", "Rank", "Deleted", "TableRight", "FieldProperties")

_FAULT_EXCEPTIONS = {500: "SoServerException", 503: "ServiceUnavailableException"}


@attrs.define
class UserGroup:
    id: int
    value: str
    tooltip: str = ""
    rank: int = 0
    deleted: bool = False

    def to_json(self, *, read_only: bool = False) -> Json:
        """The carrier as the seed's sample answer shapes it; rights follow the caller."""
        right = {"Mask": "READ" if read_only else "FULL", "Reason": ""}

        def field(kind: str, length: int) -> Json:
            return {"FieldRight": dict(right), "FieldType": kind, "FieldLength": length}

        return {
            "Value": self.value,
            "Tooltip": self.tooltip,
            "Id": self.id,
            "Rank": self.rank,
            "Deleted": self.deleted,
            "TableRight": {"Mask": "Select" if read_only else "Delete", "Reason": ""},
            "FieldProperties": {
                "Value": field("System.String", VALUE_MAX),
                "Tooltip": field("System.String", TOOLTIP_MAX),
                "Rank": field("System.Int32", 0),
            },
        }


@attrs.frozen
class _Entity:
    """The four writable fields of a POST/PUT body, validated."""

    value: str
    tooltip: str
    rank: int
    deleted: bool


class _BadEntity(ValueError):
    pass


def _text_field(body: Mapping[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _BadEntity(f"{key} must be a string.")
    if len(value) > limit:
        raise _BadEntity(f"{key} is longer than {limit} characters.")
    return value


def _entity(raw: Mapping[str, Any]) -> _Entity:
    try:
        body = bind(raw, CARRIER_FIELDS, "The user group")
    except BodyError as exc:
        raise _BadEntity(str(exc)) from None
    value = body.get("Value")
    if not isinstance(value, str) or not value.strip():
        raise _BadEntity("Value (the user group's name) is required.")
    rank = body.get("Rank")
    if rank is None:
        rank = 0
    if isinstance(rank, bool) or not isinstance(rank, int) or abs(rank) > INT32_MAX:
        raise _BadEntity("Rank must be a 32-bit integer.")
    deleted = body.get("Deleted")
    if deleted is None:
        deleted = False
    if not isinstance(deleted, bool):
        raise _BadEntity("Deleted must be true or false.")
    return _Entity(
        value=_text_field(body, "Value", VALUE_MAX),
        tooltip=_text_field(body, "Tooltip", TOOLTIP_MAX),
        rank=rank,
        deleted=deleted,
    )


def _parse_id(raw: str) -> int | None:
    if not (raw.isascii() and raw.isdigit()):
        return None
    number = int(raw)
    return number if number <= INT32_MAX else None


def _include_deleted(raw: str | None) -> bool | None:
    """The ``includeDeleted`` flag (default false); None when it is not a .NET bool."""
    if raw is None:
        return False
    return {"true": True, "false": False}.get(raw.strip().lower())


@attrs.frozen
class _Principal:
    scheme: str
    name: str
    read_only: bool


_PRINCIPAL = web.RequestKey("principal", _Principal)


@attrs.define
class SuperOfficeEmulator:
    """SuperOffice user groups in memory, served by :meth:`make_app` under ``base_path``.

    Auth knobs: ``users`` (Basic: user -> password) with ``read_only_users``; ``tickets``
    (SOTicket, accepted only with header ``SO-AppToken: <app_token>``); ``access_tokens``
    and ``read_only_tokens`` (Bearer) living ``token_lifetime`` seconds (None: forever),
    plus those the token endpoint issues for ``oauth``.  Read-only callers get 403 on writes.

    Users: ``associates`` seeds them (:class:`SeedUser`; groups named there are created when
    missing, a user without a primary group gets ``default_user_group``); :meth:`add_user`
    adds one. ``user_management=False`` refuses every ``/User`` request with 403.
    """

    faults: FaultPolicy = attrs.Factory(FaultPolicy)
    base_path: str = BASE_PATH
    users: Mapping[str, str] = attrs.Factory(lambda: {"test-user": "test-password"})
    read_only_users: Collection[str] = ()
    tickets: Sequence[str] = ("7T:test-ticket",)
    app_token: str = "test-app-token"
    access_tokens: Sequence[str] = ("test-token",)
    read_only_tokens: Sequence[str] = ()
    oauth: OAuthClient = attrs.Factory(OAuthClient)
    token_lifetime: float | None = None
    html_errors: bool = False
    associates: Iterable[SeedUser] = ()
    default_user_group: str = "Users"
    user_management: bool = True
    user_page_limit: int = USER_PAGE_LIMIT
    requests: list[RecordedRequest] = attrs.field(factory=list, init=False)
    stats: FaultStats = attrs.field(factory=FaultStats, init=False)
    tokens: TokenStore = attrs.field(init=False)
    ticket_store: TokenStore = attrs.field(init=False)
    token_refreshes: int = attrs.field(default=0, init=False)
    _groups: dict[int, UserGroup] = attrs.field(factory=dict, init=False)
    _ids: Iterator[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    _json_cache: dict[int, tuple[tuple[Any, ...], bytes]] = attrs.field(factory=dict, init=False)
    _users: dict[int, Associate] = attrs.field(factory=dict, init=False)
    _user_ids: Iterator[int] = attrs.field(
        factory=lambda: itertools.count(FIRST_ASSOCIATE_ID), init=False
    )

    def __attrs_post_init__(self) -> None:
        self.base_path = "/" + self.base_path.strip("/") if self.base_path.strip("/") else ""
        self.tokens = TokenStore(default_lifetime=self.token_lifetime)
        for token in self.access_tokens:
            self.tokens.add(token)
        for token in self.read_only_tokens:
            self.tokens.add(token, read_only=True)
        self.ticket_store = TokenStore()
        for ticket in self.tickets:
            self.ticket_store.add(ticket)
        self.seed_users(self.associates)

    # --- helpers for tests ----------------------------------------------------------------

    @property
    def groups(self) -> Mapping[int, UserGroup]:
        """Every stored group by id, soft-deleted ones included (read-only view)."""
        return MappingProxyType(self._groups)

    def api_url(self, server_url: str) -> str:
        """The web API base URL (what a client calls ``.../api/v1``) on ``server_url``."""
        return server_url.rstrip("/") + self.base_path

    def seed_group(
        self, value: str, tooltip: str = "", rank: int = 0, *, deleted: bool = False
    ) -> int:
        """Store a group directly (no request); returns its id."""
        entity = _entity({"Value": value, "Tooltip": tooltip, "Rank": rank, "Deleted": deleted})
        if self._clash(entity.value, keep=None) is not None:
            raise ValueError(f"a user group named {value!r} already exists")
        return self._store(entity).id

    @property
    def directory(self) -> Mapping[int, Associate]:
        """Every user (associate) by id (read-only view; an Associate's fields are its state)."""
        return MappingProxyType(self._users)

    def add_user(
        self,
        full_name: str,
        email: str | None = None,
        *,
        login: str | None = None,
        active: bool = True,
        primary_group: int | str | None = None,
        other_groups: Iterable[int | str] = (),
    ) -> int:
        """Store a user directly (no request); returns its associate id. Groups are given by
        id, or by name (created when missing); no primary group: ``default_user_group``."""
        user_id = next(self._user_ids)
        login = login or f"{''.join(w[0] for w in full_name.split()).upper()}{user_id}"
        if any(u.name.casefold() == login.casefold() for u in self._users.values()):
            raise ValueError(f"a user with login name {login!r} already exists")
        self._users[user_id] = Associate(
            user_id,
            login,
            full_name,
            email,
            self._group_for(self.default_user_group if primary_group is None else primary_group),
            [self._group_for(group) for group in other_groups],
            user_name=login,
            active=active,
        )
        return user_id

    def seed_users(self, users: Iterable[SeedUser]) -> list[int]:
        """Store each of ``users`` (see :meth:`add_user`); returns their ids in order."""
        return [
            self.add_user(
                u.full_name,
                u.email,
                login=u.login,
                active=u.active,
                primary_group=u.primary_group,
                other_groups=u.other_groups,
            )
            for u in users
        ]

    def set_other_groups(self, user_id: int, group_ids: Iterable[int]) -> None:
        """Replace a user's other groups directly (no request), e.g. to race a client."""
        user = self._users[user_id]
        self._users[user_id] = attrs.evolve(
            user, other_groups=[self._group_for(group) for group in group_ids]
        )

    def members_of(self, group_id: int) -> dict[int, bool]:
        """The group's members: user id -> whether it is that user's primary group."""
        return {
            user.id: user.primary_group == group_id
            for user in self._users.values()
            if group_id in user.groups()
        }

    def _group_for(self, group: int | str) -> int:
        if isinstance(group, int):
            if group not in self._groups:
                raise ValueError(f"no user group has the id {group}")
            return group
        held = self._clash(group, keep=None)
        return held.id if held is not None else self.seed_group(group)

    def last_request(self, *, api_only: bool = True) -> RecordedRequest:
        """The latest request (by default the latest to the web API, not the token endpoint)."""
        for request in reversed(self.requests):
            if not api_only or request.path.startswith(self.base_path + "/"):
                return request
        raise LookupError("no request recorded yet")

    def last_headers(self) -> dict[str, str]:
        """Headers of the latest web API request, names spelled as the client sent them."""
        return self.last_request().headers

    # --- the app --------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                recording_middleware(self.requests),
                fault_middleware(
                    self.faults, self.stats, self._fault_body, exempt=_is_token_request
                ),
                self._routing_errors,
                self._authorize,
            ],
        )
        # Routes in lower case, behind one resource that folds each request's path first.
        items = (self.base_path + ITEMS).lower()
        users = (self.base_path + USERS).lower()
        folded = _FoldedRoutes()
        app.router.register_resource(folded)
        router = folded.routes
        router.add_post(TOKEN_PATH, self._refresh)
        router.add_get(items, self._list)
        router.add_post(items, self._create)
        router.add_get(items + "/{id}", self._get)
        router.add_put(items + "/{id}", self._update)
        router.add_delete(items + "/{id}", self._delete)
        router.add_get(users, self._list_users)
        router.add_get(users + "/{id}", self._get_user)
        router.add_put(users + "/{id}", self._put_user)
        router.add_patch(users + "/{id}", self._patch_user)
        return app

    def _error(
        self, status: int, message: str, body: Json | None = None, *, plain: bool = False
    ) -> web.Response:
        if self.html_errors:
            title = f"{status} {HTTPStatus(status).phrase}"
            page = (
                f"<!DOCTYPE html><html><head><title>{title}</title></head>"
                f"<body><h1>{title}</h1><p>{html.escape(message)}</p></body></html>"
            )
            return web.Response(status=status, text=page, content_type="text/html")
        if plain:
            return web.Response(status=status, text=message, content_type="text/plain")
        return web.json_response({"Message": message} if body is None else body, status=status)

    def _fault_body(self, status: int, message: str) -> web.Response:
        if status == 429:
            return self._error(429, "Too many requests")
        exception = _FAULT_EXCEPTIONS.get(status, "SoServerException")
        return self._error(status, message, {"Message": message, "ExceptionType": exception})

    @web.middleware
    async def _routing_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # What ASP.NET Web API answers for a URL or method it has no route for.
        try:
            return await handler(request)
        except web.HTTPNotFound:
            message = f"No HTTP resource was found that matches the request URI '{request.url}'."
            return self._error(404, message)
        except web.HTTPMethodNotAllowed:
            message = f"The requested resource does not support http method '{request.method}'."
            return self._error(405, message)

    @web.middleware
    async def _authorize(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if _is_token_request(request) or request.match_info.http_exception is not None:
            return await handler(request)
        principal = self._principal(request)
        if principal is None:
            return self._error(401, DENIED)
        if not self.user_management and _is_users_request(request, self.base_path):
            return self._error(
                403,
                NO_USER_MANAGEMENT,
                {"Message": NO_USER_MANAGEMENT, "ExceptionType": "SoAccessDeniedException"},
            )
        if request.method not in READ_METHODS and principal.read_only:
            return self._error(
                403,
                "You do not have the right to change user groups.",
                {
                    "Message": "You do not have the right to change user groups.",
                    "ExceptionType": "SoAccessDeniedException",
                },
            )
        request[_PRINCIPAL] = principal
        return await handler(request)

    def _principal(self, request: web.Request) -> _Principal | None:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        credentials = credentials.strip()
        match scheme.lower():
            case "basic":
                try:
                    decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    return None
                user, _, password = decoded.partition(":")
                if user not in self.users or self.users[user] != password:
                    return None
                return _Principal("Basic", user, user in self.read_only_users)
            case "soticket":
                app_token = request.headers.get("SO-AppToken")
                if app_token != self.app_token or self.ticket_store.check(credentials) != "ok":
                    return None
                return _Principal("SOTicket", credentials, False)
            case "bearer":
                if self.tokens.check(credentials) != "ok":
                    return None
                return _Principal("Bearer", credentials, self.tokens.is_read_only(credentials))
        return None

    # --- token endpoint -------------------------------------------------------------------

    async def _refresh(self, request: web.Request) -> web.Response:
        verdict = self.oauth.check(await oauth_fields(request))
        if verdict != "ok":
            return web.json_response(
                {"error": verdict, "error_description": "The refresh request was rejected."},
                status=400,
            )
        self.token_refreshes += 1
        lifetime = 3600 if self.token_lifetime is None else math.ceil(self.token_lifetime)
        return web.json_response(
            {"access_token": self.tokens.issue(), "token_type": "Bearer", "expires_in": lifetime}
        )

    # --- user groups ----------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.Response:
        # ASP.NET binds query parameters case-insensitively ("includeDeleted=False" in the docs).
        raw = next(
            (value for key, value in request.query.items() if key.lower() == "includedeleted"),
            None,
        )
        include_deleted = _include_deleted(raw)
        if include_deleted is None:
            return self._error(400, f"The value '{raw}' is not valid for includeDeleted.")
        shown = sorted(
            (group for group in self._groups.values() if include_deleted or not group.deleted),
            key=lambda group: (group.rank, group.id),
        )
        principal = request.get(_PRINCIPAL)
        read_only = principal is not None and principal.read_only
        # Lists of thousands of groups are asked for often (a client's find() has no filter):
        # each carrier's JSON is cached until the group changes.
        body = b"[" + b",".join(self._carrier_bytes(group, read_only) for group in shown) + b"]"
        return web.Response(body=body, content_type="application/json")

    async def _get(self, request: web.Request) -> web.Response:
        group = self._group_in_path(request)
        if isinstance(group, web.Response):
            return group
        return web.json_response(self._carrier(request, group))

    async def _create(self, request: web.Request) -> web.Response:
        entity = await self._read_entity(request, keep=None)
        if isinstance(entity, web.Response):
            return entity
        return web.json_response(self._carrier(request, self._store(entity)))

    async def _update(self, request: web.Request) -> web.Response:
        group = self._group_in_path(request)
        if isinstance(group, web.Response):
            return group
        entity = await self._read_entity(request, keep=group.id)
        if isinstance(entity, web.Response):
            return entity
        group.value, group.tooltip = entity.value, entity.tooltip
        group.rank, group.deleted = entity.rank, entity.deleted
        return web.json_response(self._carrier(request, group))

    async def _delete(self, request: web.Request) -> web.Response:
        group = self._group_in_path(request)
        if isinstance(group, web.Response):
            return group
        group.deleted = True  # "It is not permitted to delete a UserGroup": it is marked
        return web.Response(status=204)

    # --- users ----------------------------------------------------------------------------

    async def _list_users(self, request: web.Request) -> web.Response:
        query = {key.lower(): value for key, value in request.query.items()}
        columns = {name.lower(): name for name in ARCHIVE_COLUMNS}
        try:
            wanted = [
                columns[c.strip().lower()]
                for c in query.get("$select", ",".join(ARCHIVE_COLUMNS)).split(",")
            ]
            keep = parse_filter(query["$filter"], columns) if "$filter" in query else None
            top = _count(query.get("$top"), self.user_page_limit, "$top")
            skip = _count(query.get("$skip"), 0, "$skip")
        except KeyError as exc:
            return self._error(400, f"The archive has no column {exc}.")
        except FilterError as exc:
            return self._error(400, str(exc))
        rows = []
        for user in sorted(self._users.values(), key=lambda u: u.id):
            row = user.row()
            if keep is None or keep({k.lower(): v for k, v in row.items()}):
                rows.append(row)
        page = rows[skip : skip + min(top, self.user_page_limit)]
        body: Json = {"odata.metadata": str(request.url.with_query(None)) + "/$metadata"}
        if skip + len(page) < len(rows):
            following = {**request.query, "$skip": str(skip + len(page))}
            body["odata.nextLink"] = str(request.url.with_query(following))
        body["value"] = [
            {"PrimaryKey": row["associateDbId"], "EntityName": "associate"}
            | {name: row[name] for name in wanted}
            for row in page
        ]
        return web.json_response(body)

    async def _get_user(self, request: web.Request) -> web.Response:
        user = self._user_in_path(request)
        if isinstance(user, web.Response):
            return user
        return web.json_response(user.entity(self._user_group))

    async def _put_user(self, request: web.Request) -> web.Response:
        return await self._write_user(request, lambda _entity, body: body)

    async def _patch_user(self, request: web.Request) -> web.Response:
        def patched(entity: Json, body: Any) -> Any:
            if isinstance(body, list):
                return apply_json_patch(entity, body)
            if isinstance(body, dict):
                return apply_merge_patch(entity, body)
            raise BodyError("A PATCH body is a JSON Patch array or a merge patch object.")

        return await self._write_user(request, patched)

    async def _write_user(
        self, request: web.Request, change: Callable[[Json, Any], Any]
    ) -> web.Response:
        user = self._user_in_path(request)
        if isinstance(user, web.Response):
            return user
        try:
            body = json.loads(await request.text())
        except ValueError:
            return self._error(400, NO_ENTITY, plain=True)
        try:
            document = change(user.entity(self._user_group), body)
            written = user.written(document, self._groups)
        except PatchConflict as exc:
            return self._error(409, str(exc))
        except BodyError as exc:
            message = str(exc)
            return self._error(
                400, message, {"Message": message, "ExceptionType": "SoValidationException"}
            )
        self._users[user.id] = written
        return web.json_response(written.entity(self._user_group))

    def _user_in_path(self, request: web.Request) -> Associate | web.Response:
        return self._in_path(request, self._users)

    def _user_group(self, group_id: int) -> Json:
        return self._groups[group_id].to_json()

    # --- internals ------------------------------------------------------------------------

    async def _read_entity(
        self, request: web.Request, *, keep: int | None
    ) -> _Entity | web.Response:
        try:
            body = json.loads(await request.text())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._error(400, NO_ENTITY, plain=True)
        try:
            entity = _entity(body)
        except _BadEntity as exc:
            message = str(exc)
            return self._error(
                400, message, {"Message": message, "ExceptionType": "SoValidationException"}
            )
        if self._clash(entity.value, keep=keep) is not None:
            message = f"A user group named '{entity.value}' already exists."
            return self._error(
                409,
                message,
                {
                    "Error": True,
                    "ErrorType": "DuplicateKey",
                    "Message": message,
                    "ExceptionType": "SoDuplicateKeyException",
                },
            )
        return entity

    def _clash(self, value: str, *, keep: int | None) -> UserGroup | None:
        wanted = value.casefold()
        return next(
            (g for g in self._groups.values() if g.value.casefold() == wanted and g.id != keep),
            None,
        )

    def _store(self, entity: _Entity) -> UserGroup:
        group = UserGroup(
            next(self._ids), entity.value, entity.tooltip, entity.rank, entity.deleted
        )
        self._groups[group.id] = group
        return group

    def _group_in_path(self, request: web.Request) -> UserGroup | web.Response:
        return self._in_path(request, self._groups)

    def _in_path(self, request: web.Request, held: Mapping[int, T]) -> T | web.Response:
        """The entity whose id the URL names, or the vendor's 404 for an unknown one."""
        entity_id = _parse_id(request.match_info["id"])
        if entity_id is None:
            # The real route only matches int32 ids, so anything else is an unknown URL.
            raise web.HTTPNotFound()
        entity = held.get(entity_id)
        return self._error(404, NOT_FOUND, plain=True) if entity is None else entity

    def _carrier_bytes(self, group: UserGroup, read_only: bool) -> bytes:
        key = (group.id, group.value, group.tooltip, group.rank, group.deleted, read_only)
        cached = self._json_cache.get(group.id)
        if cached is None or cached[0] != key:
            cached = (key, json.dumps(group.to_json(read_only=read_only)).encode())
            self._json_cache[group.id] = cached
        return cached[1]

    def _carrier(self, request: web.Request, group: UserGroup) -> Json:
        principal = request.get(_PRINCIPAL)
        return group.to_json(read_only=principal is not None and principal.read_only)


def _is_token_request(request: web.Request) -> bool:
    return request.path.startswith("/login/")


def _is_users_request(request: web.Request, base_path: str) -> bool:
    path = request.path.lower().rstrip("/")
    users = (base_path + USERS).lower()
    return path == users or path.startswith(users + "/")


def _count(raw: str | None, default: int, name: str) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise FilterError(f"The value '{raw}' is not valid for {name}.")
    return int(raw)


class _FoldedRoutes(web.AbstractResource):
    """Every route of the emulator, matched regardless of case and of a trailing slash, as
    SuperOffice does: ``routes`` holds them in lower case, and each request's path is folded
    the same way before it is matched."""

    def __init__(self) -> None:
        super().__init__()
        self.routes = web.UrlDispatcher()

    @property
    def canonical(self) -> str:
        return "/"  # a candidate for every path

    def url_for(self, **kwargs: str) -> URL:
        raise NotImplementedError("the emulator builds no URLs from routes")

    def add_prefix(self, prefix: str) -> None:
        raise NotImplementedError("the emulator is not mounted as a sub-application")

    def get_info(self) -> Any:
        return {"routes": [route.get_info() for route in self.routes.routes()]}

    def raw_match(self, path: str) -> bool:
        return False

    def __len__(self) -> int:
        return len(self.routes.routes())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.routes.routes())

    async def resolve(self, request: web.Request) -> Any:
        path = request.rel_url.path
        folded = path.lower().rstrip("/") or "/"
        if folded != path:
            request = request.clone(rel_url=URL.build(path=folded, encoded=False))
        match = await self.routes.resolve(request)
        error = match.http_exception
        if error is None:
            return match, set()
        return None, set(getattr(error, "allowed_methods", ()))


def _how_many(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (0 or more)")
    return int(text)


def add_superoffice_arguments(parser: argparse.ArgumentParser, *, prefix: str = "") -> None:
    """The SuperOffice emulator's own options (``unigroups emulate superoffice`` may offer them)."""
    parser.add_argument(
        "--seed-users",
        type=_how_many,
        default=0,
        metavar="N",
        help=f"{prefix}store N users ('User N', userN@example.com) before serving",
    )
    parser.add_argument(
        "--users-file",
        metavar="PATH",
        help=f"{prefix}store the users of a JSON file: an array of objects with full_name and "
        "optionally email, login, active, primary_group, other_groups (group names)",
    )
    parser.add_argument(
        "--no-user-management",
        action="store_true",
        help=f"{prefix}answer 403 on /User, as Online does for partner apps",
    )


def emulator_from_args(args: argparse.Namespace) -> SuperOfficeEmulator:
    seeds = generated_users(args.seed_users)
    if args.users_file:
        seeds += read_users_file(args.users_file)
    return SuperOfficeEmulator(
        faults=fault_policy_from_args(args),
        base_path=getattr(args, "base_path", BASE_PATH),
        access_tokens=(args.token,),
        associates=seeds,
        user_management=not args.no_user_management,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = emulator_arg_parser(
        "python -m unigroups.testing.superoffice_emulator", "SuperOffice user-groups emulator"
    )
    parser.add_argument("--base-path", default=BASE_PATH, help="web API path (%(default)s)")
    add_superoffice_arguments(parser)
    args = parser.parse_args(argv)
    try:
        emulator = emulator_from_args(args)
    except ValueError as exc:  # an unreadable users file: one line, as a usage error
        parser.exit(2, f"error: {exc}\n")
    run_forever(emulator.make_app(), args.port, args.host, path=emulator.base_path)


if __name__ == "__main__":
    main()
