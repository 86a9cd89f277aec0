"""The SuperOffice emulator over real HTTP, plus the shared fault and server machinery."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from unigroups.testing.faults import FaultPolicy
from unigroups.testing.server import ThreadedServer, serve
from unigroups.testing.superoffice_emulator import (
    SeedUser,
    SuperOfficeEmulator,
    add_superoffice_arguments,
    emulator_from_args,
)

BASIC = {"Authorization": "Basic " + base64.b64encode(b"test-user:test-password").decode()}
ITEMS = "/List/UserGroup/Items"
DENIED = {"Message": "Authorization has been denied for this request."}


@contextlib.asynccontextmanager
async def running(
    emulator: SuperOfficeEmulator | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[SuperOfficeEmulator, str, aiohttp.ClientSession]]:
    """The emulator on loopback, its ``List/UserGroup/Items`` URL and a session."""
    emulator = emulator or SuperOfficeEmulator()
    async with (
        serve(emulator.make_app()) as server,
        aiohttp.ClientSession(headers=BASIC if headers is None else headers) as http,
    ):
        yield emulator, emulator.api_url(server) + ITEMS, http


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as response:
        text = await response.text()
        if response.content_type == "application/json":
            return response.status, json.loads(text)
        return response.status, text


async def test_crud_with_soft_delete() -> None:
    async with running() as (emulator, url, http):
        new = {"Value": "Sales", "Tooltip": "sales people", "Id": 0, "Rank": 2, "Deleted": False}
        status, body = await call(http, "POST", url, json=new)
        assert status == 200
        full = {"Mask": "FULL", "Reason": ""}
        assert body == {
            "Value": "Sales",
            "Tooltip": "sales people",
            "Id": 1,
            "Rank": 2,
            "Deleted": False,
            "TableRight": {"Mask": "Delete", "Reason": ""},
            "FieldProperties": {
                "Value": {"FieldRight": full, "FieldType": "System.String", "FieldLength": 239},
                "Tooltip": {"FieldRight": full, "FieldType": "System.String", "FieldLength": 254},
                "Rank": {"FieldRight": full, "FieldType": "System.Int32", "FieldLength": 0},
            },
        }
        second = emulator.seed_group("Support", rank=1)
        status, body = await call(http, "GET", url)
        assert [g["Value"] for g in body] == ["Support", "Sales"]  # by Rank

        status, body = await call(http, "PUT", f"{url}/1", json={"Value": "Sales EU", "Rank": 5})
        assert status == 200
        assert (body["Value"], body["Tooltip"], body["Rank"]) == ("Sales EU", "", 5)

        async with http.delete(f"{url}/{second}") as response:
            assert (response.status, await response.read()) == (204, b"")
        status, body = await call(http, "GET", url)
        assert [g["Id"] for g in body] == [1]
        status, body = await call(http, "GET", url, params={"includeDeleted": "True"})
        assert [(g["Id"], g["Deleted"]) for g in body] == [(second, True), (1, False)]
        status, body = await call(http, "GET", f"{url}/{second}")
        assert (status, body["Deleted"]) == (200, True)

        restore = {"Value": "Support", "Rank": 1, "Deleted": False}
        assert (await call(http, "PUT", f"{url}/{second}", json=restore))[0] == 200
        assert not emulator.groups[second].deleted


async def test_error_answers() -> None:
    async with running() as (emulator, url, http):
        emulator.seed_group("Old", deleted=True)
        for method, target in (("POST", url), ("PUT", f"{url}/1")):
            for data in (b"", b"null", b"not json"):
                status, body = await call(http, method, target, data=data)
                assert (status, body) == (400, "Entity to save is not in request body.")
        status, body = await call(http, "POST", url, json={"Value": "x" * 240})
        assert status == 400 and "239" in body["Message"]
        status, body = await call(http, "POST", url, json={"Value": "x", "Tooltip": "t" * 255})
        assert status == 400 and "254" in body["Message"]

        assert await call(http, "GET", f"{url}/99") == (404, "Not Found.")
        assert await call(http, "PUT", f"{url}/99", json={"Value": "x"}) == (404, "Not Found.")
        assert await call(http, "DELETE", f"{url}/99") == (404, "Not Found.")
        assert (await call(http, "GET", f"{url}/abc"))[0] == 404
        assert (await call(http, "GET", f"{url}/{2**31}"))[0] == 404

        # Names stay taken by soft-deleted groups: the unique index covers every row.
        status, body = await call(http, "POST", url, json={"Value": "OLD"})
        assert status == 409
        assert body == {
            "Error": True,
            "ErrorType": "DuplicateKey",
            "Message": "A user group named 'OLD' already exists.",
            "ExceptionType": "SoDuplicateKeyException",
        }
        assert len(emulator.groups) == 1


async def test_three_auth_schemes() -> None:
    emulator = SuperOfficeEmulator(token_lifetime=60)
    async with running(emulator, headers={}) as (emulator, url, http):
        assert await call(http, "GET", url) == (401, DENIED)
        wrong = {"Authorization": "Basic " + base64.b64encode(b"test-user:nope").decode()}
        assert await call(http, "GET", url, headers=wrong) == (401, DENIED)
        assert (await call(http, "GET", url, headers=BASIC))[0] == 200

        ticket = {"Authorization": "SOTicket 7T:test-ticket"}
        assert (await call(http, "GET", url, headers=ticket))[0] == 401
        with_app = {**ticket, "SO-AppToken": "test-app-token"}
        assert (await call(http, "GET", url, headers=with_app))[0] == 200
        wrong_app = {**ticket, "SO-AppToken": "other"}
        assert (await call(http, "GET", url, headers=wrong_app))[0] == 401

        bearer = {"Authorization": "Bearer test-token"}
        assert (await call(http, "GET", url, headers=bearer))[0] == 200
        emulator.tokens.expire("test-token")
        assert await call(http, "GET", url, headers=bearer) == (401, DENIED)

        server = url.split("/Cust12345")[0]
        form = {
            "grant_type": "refresh_token",
            "client_id": "test-client-id",
            "client_secret": "test-client-secret",
            "refresh_token": "test-refresh-token",
        }
        tokens = server + "/login/common/oauth/tokens"
        status, body = await call(http, "POST", tokens, data={**form, "refresh_token": "old"})
        assert (status, body["error"]) == (400, "invalid_grant")
        status, body = await call(http, "POST", tokens, data=form)
        assert status == 200
        assert body["token_type"] == "Bearer" and body["expires_in"] == 60
        assert emulator.token_refreshes == 1
        fresh = {"Authorization": f"Bearer {body['access_token']}"}
        assert (await call(http, "GET", url, headers=fresh))[0] == 200


async def test_read_only_user_and_html_errors() -> None:
    emulator = SuperOfficeEmulator(
        users={"reader": "pw", "test-user": "test-password"}, read_only_users={"reader"}
    )
    reader = {"Authorization": "Basic " + base64.b64encode(b"reader:pw").decode()}
    async with running(emulator, headers=reader) as (emulator, url, http):
        emulator.seed_group("Sales")
        status, body = await call(http, "GET", f"{url}/1")
        assert (status, body["TableRight"]["Mask"]) == (200, "Select")
        status, body = await call(http, "POST", url, json={"Value": "x"})
        assert (status, body["ExceptionType"]) == (403, "SoAccessDeniedException")
        assert (await call(http, "DELETE", f"{url}/1"))[0] == 403

        emulator.html_errors = True
        async with http.get(f"{url}/9") as response:
            assert response.status == 404
            assert response.content_type == "text/html"
            assert "Not Found." in await response.text()


async def test_language_and_time_zone_headers_are_recorded() -> None:
    headers = {
        **BASIC,
        "Accept-Language": "en-us; en-gb",
        "SO-Language": "nb-no",
        "SO-Culture": "sv",
        "SO-TimeZone": "261, includeTZOffset",
    }
    async with running(headers=headers) as (emulator, url, http):
        await call(http, "GET", url)
        recorded = emulator.last_headers()
        for name in ("Accept-Language", "SO-Language", "SO-Culture", "SO-TimeZone"):
            assert recorded[name] == headers[name]
        assert emulator.last_request().header("so-timezone") == "261, includeTZOffset"


async def test_seeded_faults_are_reproducible() -> None:
    async def statuses(seed: int) -> list[int]:
        policy = FaultPolicy(rate_429=0.2, rate_500=0.2, rate_503=0.2, retry_after=0.5, seed=seed)
        async with running(SuperOfficeEmulator(faults=policy)) as (emulator, url, http):
            seen = []
            for _ in range(30):
                async with http.get(url) as response:
                    seen.append(response.status)
                    if response.status == 429:
                        assert response.headers["Retry-After"] == "0.5"
                        assert await response.json() == {"Message": "Too many requests"}
                    elif response.status in (500, 503):
                        assert "ExceptionType" in await response.json()
            assert emulator.stats.statuses[200] == seen.count(200)
            return seen

    first = await statuses(7)
    assert first == await statuses(7)
    assert {200, 429, 500, 503} <= set(first)
    assert first != await statuses(8)


async def test_drop_latency_and_slow_answers() -> None:
    emulator = SuperOfficeEmulator(faults=FaultPolicy(drop_rate=1.0))
    async with running(emulator) as (emulator, url, http):
        # aiohttp retries an idempotent request once after a disconnect: both are dropped.
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await call(http, "GET", url)
        assert emulator.stats.drops == 2

        emulator.faults.drop_rate = 0.0
        emulator.faults.latency = 0.2
        started = time.monotonic()
        assert (await call(http, "GET", url))[0] == 200
        assert time.monotonic() - started >= 0.2

        emulator.faults.latency = 0.0
        emulator.faults.slow_rate = 1.0
        emulator.faults.slow_delay = 2.0
        timeout = aiohttp.ClientTimeout(total=0.2)
        with pytest.raises(asyncio.TimeoutError):
            await call(http, "POST", url, json={"Value": "too late"}, timeout=timeout)
        for _ in range(50):  # the server notices the client left within a poll or two
            if emulator.stats.slow_abandoned:
                break
            await asyncio.sleep(0.02)
        assert emulator.stats.slow_abandoned == 1
        assert emulator.groups == {}

        emulator.faults.slow_delay = 0.1
        assert (await call(http, "POST", url, json={"Value": "in time"}))[0] == 200
        assert [g.value for g in emulator.groups.values()] == ["in time"]


def test_threaded_server_serves_synchronous_callers() -> None:
    emulator = SuperOfficeEmulator(base_path="/SuperOffice/api/v1")
    emulator.seed_group("Sales")
    with ThreadedServer(emulator.make_app) as server:
        request = urllib.request.Request(emulator.api_url(server) + ITEMS, headers=BASIC)
        with urllib.request.urlopen(request, timeout=5) as response:
            assert [g["Value"] for g in json.load(response)] == ["Sales"]
    assert emulator.requests[-1].path == "/SuperOffice/api/v1/List/UserGroup/Items"


# -- binding like ASP.NET: property names and paths regardless of case -------------------------


async def test_bodies_bind_regardless_of_case_and_refuse_what_they_cannot_bind() -> None:
    async with running() as (emulator, url, http):
        status, body = await call(http, "POST", url, json={"value": "Support", "rank": 3})
        assert (status, body["Value"], body["Rank"]) == (200, "Support", 3)
        status, body = await call(http, "PUT", f"{url}/1", json={"VALUE": "Help", "tooltip": "t"})
        assert (status, body["Value"], body["Tooltip"]) == (200, "Help", "t")
        refused = (
            {"name": "Support"},  # not a property of the carrier
            {"Value": "a", "value": "b"},  # the same property twice
            {"Tooltip": "no name"},
            {"Value": "   "},
        )
        for sent in refused:
            for method, target in (("POST", url), ("PUT", f"{url}/1")):
                status, body = await call(http, method, target, json=sent)
                assert status == 400, sent
                assert body["ExceptionType"] == "SoValidationException"
        assert [(g.value, g.tooltip) for g in emulator.groups.values()] == [("Help", "t")]
        # A carrier read back (rights included) can be sent back as it is.
        status, read = await call(http, "GET", f"{url}/1")
        assert (await call(http, "PUT", f"{url}/1", json=read))[0] == 200


async def test_paths_match_regardless_of_case_and_trailing_slash() -> None:
    async with running(SuperOfficeEmulator(associates=[SeedUser("Ann Lee")])) as (_, url, http):
        api = url.removesuffix(ITEMS)
        for path in ("/list/usergroup/items", "/LIST/USERGROUP/ITEMS/", "/List/UserGroup/Items/1/"):
            assert (await call(http, "GET", api + path))[0] == 200, path
        for path in ("/user", "/USER/", "/User/101", "/user/101/"):
            assert (await call(http, "GET", api + path))[0] == 200, path
        assert (await call(http, "GET", api.lower() + "/user/101"))[0] == 200
        assert (await call(http, "GET", api + "/Users"))[0] == 404
        assert (await call(http, "DELETE", api + "/user/101"))[0] == 405


# -- users ------------------------------------------------------------------------------------

PEOPLE = [
    SeedUser("Ann Lee", "ann@example.com", "AL", primary_group="Sales", other_groups=["Support"]),
    SeedUser("Bob Stone", None, "BS", other_groups=["Sales", "Support"]),
    SeedUser("Cy Old", "cy@example.com", "CY", active=False),
]


def users_url(url: str) -> str:
    return url.removesuffix(ITEMS) + "/User"


async def test_user_listing_selects_filters_and_pages() -> None:
    async with running(SuperOfficeEmulator(associates=PEOPLE)) as (emulator, url, http):
        sales = next(g.id for g in emulator.groups.values() if g.value == "Sales")
        status, body = await call(http, "GET", users_url(url))
        assert status == 200 and [r["assocName"] for r in body["value"]] == ["AL", "BS", "CY"]
        assert body["value"][0] == {
            "PrimaryKey": 101,
            "EntityName": "associate",
            "associateDbId": 101,
            "personId": 5101,
            "assocName": "AL",
            "fullName": "Ann Lee",
            "userName": "AL",
            "personEmail": "ann@example.com",
            "usergroupId": sales,
            "otherGroups": [sales + 1],
            "isActive": True,
        }
        cases = {
            f"usergroupId eq {sales} or otherGroups in ({sales})": ["AL", "BS"],
            f"otherGroups in ({sales}, 999) and isActive eq true": ["BS"],
            "isActive eq false or (personEmail eq 'ANN@example.com' and assocName eq 'AL')": [
                "AL",
                "CY",
            ],
            "associateDbId in (102,103)": ["BS", "CY"],
            "fullName eq 'nobody'": [],
        }
        for expression, expected in cases.items():
            query = {"$filter": expression, "$select": "assocName"}
            status, body = await call(http, "GET", users_url(url), params=query)
            assert status == 200, expression
            assert body["value"] == [
                {"PrimaryKey": 101 + ["AL", "BS", "CY"].index(n), "EntityName": "associate"}
                | {"assocName": n}
                for n in expected
            ]
        status, body = await call(
            http, "GET", users_url(url), params={"$top": "2", "$select": "ASSOCNAME"}
        )
        assert [r["assocName"] for r in body["value"]] == ["AL", "BS"]
        async with http.get(body["odata.nextLink"]) as response:
            rest = await response.json()
        assert [r["assocName"] for r in rest["value"]] == ["CY"]
        assert "odata.nextLink" not in rest
        for bad in (
            {"$filter": "nosuch eq 1"},
            {"$filter": "isActive ne true"},
            {"$filter": "isActive eq"},
            {"$filter": "(isActive eq true"},
            {"$select": "secret"},
            {"$top": "-1"},
            {"$skip": "x"},
        ):
            assert (await call(http, "GET", users_url(url), params=bad))[0] == 400, bad


async def test_a_user_entity_is_patched_by_json_patch_or_merge_patch() -> None:
    async with running(SuperOfficeEmulator(associates=PEOPLE)) as (emulator, url, http):
        sales, support = (g.id for g in list(emulator.groups.values())[:2])
        ann = f"{users_url(url)}/101"
        status, body = await call(http, "GET", ann)
        assert (body["AssociateId"], body["UserGroup"]["Id"]) == (101, sales)
        assert [g["Id"] for g in body["OtherGroups"]] == [support]
        assert body["Person"] == {
            "PersonId": 5101,
            "FullName": "Ann Lee",
            "Email": "ann@example.com",
        }

        add = [{"op": "add", "path": "/OtherGroups/-", "value": {"Id": 1}}]
        status, body = await call(http, "PATCH", ann, json=add)
        assert status == 200 and [g["Id"] for g in body["OtherGroups"]] == [support, 1]
        # Paths and property names regardless of case; the leading slash is optional.
        stale = [
            {"OP": "test", "path": "othergroups/0/ID", "value": 1},
            {"op": "remove", "path": "/OtherGroups/0"},
        ]
        status, body = await call(http, "PATCH", ann, json=stale)
        assert status == 409 and "failed" in body["Message"]
        assert emulator.directory[101].other_groups == [support, 1]
        past_the_end = [{"op": "test", "path": "/OtherGroups/7/Id", "value": 1}]
        assert (await call(http, "PATCH", ann, json=past_the_end))[0] == 409
        current = [{**stale[0], "value": support}, stale[1]]
        assert (await call(http, "PATCH", ann, json=current))[0] == 200
        assert emulator.directory[101].other_groups == [1]

        replace = [{"op": "replace", "path": "/UserGroup", "value": {"id": support}}]
        assert (await call(http, "PATCH", ann, json=replace))[0] == 200
        assert emulator.members_of(support) == {101: True, 102: False}
        merge = {"othergroups": [{"Id": sales}], "Person": {"Email": "ann.lee@example.com"}}
        assert (await call(http, "PATCH", ann, json=merge))[0] == 200
        held = emulator.directory[101]
        assert (held.other_groups, held.email) == ([sales], "ann.lee@example.com")

        refused = [
            [{"op": "remove", "path": "/UserGroup"}],  # a primary group is never emptied
            {"UserGroup": None},
            [{"op": "add", "path": "/OtherGroups/-", "value": {"Id": 999}}],
            [{"op": "add", "path": "/OtherGroups/-", "value": {"Id": 1, "Colour": "red"}}],
            [{"op": "move", "path": "/OtherGroups/0", "from": "/OtherGroups/1"}],
            [{"op": "remove", "path": "/OtherGroups/5"}],
            [{"op": "replace", "path": "/Nickname2", "value": "x"}],
            {"Shoe": 42},
            [],
        ]
        for body in refused:
            assert (await call(http, "PATCH", ann, json=body))[0] == 400, body
        assert emulator.directory[101] == held


async def test_a_user_entity_is_replaced_by_put() -> None:
    async with running(SuperOfficeEmulator(associates=PEOPLE)) as (emulator, url, http):
        bob = f"{users_url(url)}/102"
        _, entity = await call(http, "GET", bob)
        entity["OtherGroups"] = []
        status, body = await call(http, "PUT", bob, json=entity)
        assert status == 200 and body["OtherGroups"] == []
        assert emulator.directory[102].other_groups == []
        for missing in ("UserGroup", "Name"):
            partial = {k: v for k, v in entity.items() if k != missing}
            assert (await call(http, "PUT", bob, json=partial))[0] == 400
        assert (await call(http, "PUT", bob, json={**entity, "Shoe": 1}))[0] == 400
        assert (await call(http, "PUT", bob, json={**entity, "AssociateId": 7}))[0] == 400
        assert await call(http, "GET", f"{users_url(url)}/999") == (404, "Not Found.")
        assert await call(http, "PATCH", f"{users_url(url)}/999", json=[]) == (404, "Not Found.")


async def test_user_management_can_be_refused_like_online_does() -> None:
    emulator = SuperOfficeEmulator(associates=PEOPLE, user_management=False)
    async with running(emulator) as (emulator, url, http):
        for method, target in (("GET", users_url(url)), ("GET", users_url(url) + "/101/")):
            status, body = await call(http, method, target)
            assert status == 403
            assert body["Message"].startswith("The User agent is not available in Online")
        assert (await call(http, "GET", url))[0] == 200  # groups stay available


def test_users_are_seeded_from_the_command_line(tmp_path: Path) -> None:
    listing = tmp_path / "users.json"
    listing.write_text(
        json.dumps([{"full_name": "Ann Lee", "email": "ann@example.com", "other_groups": ["Ops"]}])
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", default="t")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--max-in-flight", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    add_superoffice_arguments(parser)
    args = parser.parse_args(["--seed-users", "3", "--users-file", str(listing)])
    emulator = emulator_from_args(args)
    people = [(u.full_name, u.email) for u in emulator.directory.values()]
    assert people == [
        ("User 1", "user1@example.com"),
        ("User 2", "user2@example.com"),
        ("User 3", "user3@example.com"),
        ("Ann Lee", "ann@example.com"),
    ]
    ops = next(g.id for g in emulator.groups.values() if g.value == "Ops")
    assert emulator.members_of(ops) == {104: False}
    with pytest.raises(SystemExit):
        parser.parse_args(["--seed-users", "-1"])
    listing.write_text('{"not": "a list"}')
    with pytest.raises(ValueError, match="cannot read users"):
        emulator_from_args(parser.parse_args(["--users-file", str(listing)]))
