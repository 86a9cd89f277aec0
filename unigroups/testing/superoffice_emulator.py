"""A stateful fake of SuperOffice's ``List/UserGroup/Items`` REST endpoints and of the
Online token endpoint, for tests over real HTTP on loopback.

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
* the list is ordered by ``Rank``, then ``Id``.

Run standalone with ``python -m unigroups.testing.superoffice_emulator --port 8080``.
"""

from __future__ import annotations

import base64
import binascii
import html
import itertools
import json
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from http import HTTPStatus
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

__all__ = ["SuperOfficeEmulator", "UserGroup", "main"]

Json = dict[str, Any]

BASE_PATH = "/Cust12345/api/v1"
ITEMS = "/List/UserGroup/Items"
TOKEN_PATH = "/login/common/oauth/tokens"
VALUE_MAX = 239
TOOLTIP_MAX = 254
INT32_MAX = 2**31 - 1
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

NO_ENTITY = "Entity to save is not in request body."
NOT_FOUND = "Not Found."
DENIED = "Authorization has been denied for this request."

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


def _entity(body: Mapping[str, Any]) -> _Entity:
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
    requests: list[RecordedRequest] = attrs.field(factory=list, init=False)
    stats: FaultStats = attrs.field(factory=FaultStats, init=False)
    tokens: TokenStore = attrs.field(init=False)
    ticket_store: TokenStore = attrs.field(init=False)
    token_refreshes: int = attrs.field(default=0, init=False)
    _groups: dict[int, UserGroup] = attrs.field(factory=dict, init=False)
    _ids: Iterator[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    _json_cache: dict[int, tuple[tuple[Any, ...], bytes]] = attrs.field(factory=dict, init=False)

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
            ]
        )
        items = self.base_path + ITEMS
        router = app.router
        router.add_post(TOKEN_PATH, self._refresh)
        router.add_get(items, self._list)
        router.add_post(items, self._create)
        router.add_get(items + "/{id}", self._get)
        router.add_put(items + "/{id}", self._update)
        router.add_delete(items + "/{id}", self._delete)
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
        group_id = _parse_id(request.match_info["id"])
        if group_id is None:
            # The real route only matches int32 ids, so anything else is an unknown URL.
            raise web.HTTPNotFound()
        group = self._groups.get(group_id)
        return self._error(404, NOT_FOUND, plain=True) if group is None else group

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


def main(argv: Sequence[str] | None = None) -> None:
    parser = emulator_arg_parser(
        "python -m unigroups.testing.superoffice_emulator", "SuperOffice user-groups emulator"
    )
    parser.add_argument("--base-path", default=BASE_PATH, help="web API path (%(default)s)")
    args = parser.parse_args(argv)
    emulator = SuperOfficeEmulator(
        faults=fault_policy_from_args(args), base_path=args.base_path, access_tokens=(args.token,)
    )
    run_forever(emulator.make_app(), args.port, args.host, path=emulator.base_path)


if __name__ == "__main__":
    main()
