"""The SuperOffice emulator over real HTTP, plus the shared fault and server machinery."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from unigroups.testing.faults import FaultPolicy
from unigroups.testing.server import ThreadedServer, serve
from unigroups.testing.superoffice_emulator import SuperOfficeEmulator

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
