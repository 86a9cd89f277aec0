"""A tiny stateful emulator of the Acme CRM group API, for the plugin's tests on 127.0.0.1."""

import itertools
import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

API_KEY = "test-key"


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def make_app(faults: list[int] | None = None) -> web.Application:
    """The API. ``faults``: statuses to answer next, one a request (the caller may add more)."""
    groups: dict[str, dict[str, Any]] = {}
    ids = itertools.count(1)
    faults = [] if faults is None else faults

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if faults:
            return error(faults.pop(0), "busy", "try again later")
        if request.headers.get("X-Api-Key") != API_KEY:
            return error(401, "bad_key", "unknown API key")
        return await handler(request)

    def taken(name: str, group_id: str | None = None) -> web.Response | None:
        for other in groups.values():
            if other["name"].casefold() == name.casefold() and other["id"] != group_id:
                return error(409, "name_taken", f"a group named {name!r} exists")
        return None

    def one(request: web.Request) -> dict[str, Any]:
        group = groups.get(request.match_info["id"])
        if group is None:
            body = {"error": {"code": "group_not_found", "message": "no such group"}}
            raise web.HTTPNotFound(text=json.dumps(body), content_type="application/json")
        return group

    async def listing(request: web.Request) -> web.Response:
        query = request.query
        page, size = int(query.get("page", "1")), int(query.get("per_page", "50"))
        found = [
            {key: value for key, value in g.items() if key != "members"}
            for g in groups.values()
            if (g["active"] or query.get("include_inactive") == "true")
            and query.get("name", g["name"]) == g["name"]
        ]
        start = (page - 1) * size
        return web.json_response(
            {"groups": found[start : start + size], "more": start + size < len(found)}
        )

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        if refusal := taken(body["name"]):
            return refusal
        group_id = str(next(ids))
        groups[group_id] = {**body, "id": group_id, "active": True}
        return web.json_response(groups[group_id], status=201)

    async def read(request: web.Request) -> web.Response:
        return web.json_response(one(request))

    async def replace(request: web.Request) -> web.Response:
        group, body = one(request), await request.json()
        if refusal := taken(body["name"], group["id"]):
            return refusal
        group.update(body, id=group["id"])
        return web.json_response(group)

    async def delete(request: web.Request) -> web.Response:
        one(request)["active"] = False
        return web.Response(status=204)

    app = web.Application(middlewares=[gate])
    app.router.add_routes(
        [
            web.get("/groups", listing),
            web.post("/groups", create),
            web.get("/groups/{id}", read),
            web.put("/groups/{id}", replace),
            web.delete("/groups/{id}", delete),
        ]
    )
    return app
