"""The Zoho emulator over real HTTP: documented shapes, state, auth and injected faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from unigroups.testing.faults import FaultPolicy
from unigroups.testing.server import serve
from unigroups.testing.zoho_emulator import FIRST_ID, Limits, ZohoEmulator

AUTH = {"Authorization": "Zoho-oauthtoken test-token"}
PATH = "/crm/v8/settings/user_groups"
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")

# The seeds' sample inputs, verbatim.
SEEDS = Path(__file__).parents[1] / "seeds"
SEED_CREATE = json.loads((SEEDS / "zoho-create-request.json").read_text())
SEED_UPDATE = json.loads((SEEDS / "zoho-update-request.json").read_text())


@contextlib.asynccontextmanager
async def running(
    emulator: ZohoEmulator | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[ZohoEmulator, str, aiohttp.ClientSession]]:
    """The emulator served on loopback, its user-groups URL and a session."""
    emulator = emulator or ZohoEmulator()
    async with (
        serve(emulator.make_app()) as base,
        aiohttp.ClientSession(headers=AUTH if headers is None else headers) as http,
    ):
        yield emulator, base + PATH, http


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as response:
        text = await response.text()
        return response.status, (json.loads(text) if text else None)


def group_body(name: str, sources: list[dict[str, Any]] | None = None, **extra: Any) -> Any:
    return {"user_groups": [{"name": name, "sources": sources or [], **extra}]}


def user(member_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "users", "source": {"id": member_id, "name": None}, **extra}


async def test_round_trip_matches_the_seed_shapes() -> None:
    async with running() as (emulator, url, http):
        status, body = await call(http, "POST", url, json=SEED_CREATE)
        group_id = str(FIRST_ID)
        assert status == 201
        assert body == {
            "user_groups": [
                {
                    "code": "SUCCESS",
                    "details": {"id": group_id},
                    "message": "User Group Created successfully",
                    "status": "success",
                }
            ]
        }

        status, body = await call(http, "GET", f"{url}/{group_id}")
        assert status == 200
        (group,) = body["user_groups"]
        assert "sources" not in group
        assert group["id"] == group_id and group["name"] == "test group"
        assert group["description"] == "my group"
        assert ISO_WITH_OFFSET.match(group["created_time"])
        assert group["created_by"] == {"name": "Patricia Boyle", "id": "3652397000000186017"}
        assert group["sources_count"] == {
            "users": {"active": 2, "inactive": 0, "deleted": 0},
            "roles": 1,
            "territories": 1,
            "groups": 0,
        }

        status, body = await call(http, "GET", url)
        assert status == 200
        assert body["info"] == {"per_page": 200, "count": 1, "page": 1, "more_records": False}
        assert [g["id"] for g in body["user_groups"]] == [group_id]
        assert "sources_count" not in body["user_groups"][0]

        status, body = await call(http, "GET", f"{url}/{group_id}/sources")
        assert status == 200
        assert body["sources"][1] == {
            "type": "roles",
            "source": {"id": "3652397000000026008", "name": "Manager"},
            "subordinates": True,
            "sub_territories": False,
        }
        assert body["sources"][0] == {
            "type": "users",
            "source": {"id": "3652397000000186017", "name": "Patricia Boyle"},
            "subordinates": False,
            "sub_territories": False,
        }

        status, body = await call(http, "PUT", f"{url}/{group_id}", json=SEED_UPDATE)
        assert status == 200
        assert body == {
            "user_groups": [
                {
                    "code": "SUCCESS",
                    "details": {"id": group_id},
                    "message": "User Group Updated successfully",
                    "status": "success",
                }
            ]
        }
        ids = [s["source"]["id"] for s in emulator.groups[group_id].sources]
        assert ids == ["3652397000000186017", "3652397000000026008", "3652397000007622003"]

        status, body = await call(http, "DELETE", f"{url}/{group_id}")
        assert (status, body["user_groups"][0]["code"]) == (200, "SUCCESS")
        assert body["user_groups"][0]["message"] == "User Group deleted successfully"
        assert body["user_groups"][0]["details"] == {"id": group_id}
        assert emulator.groups == {}
        async with http.get(url) as response:
            assert response.status == 204
            assert await response.read() == b""


async def test_update_adds_replaces_and_ignores_absent_removals() -> None:
    async with running() as (emulator, url, http):
        group_id = emulator.seed_group("g", sources=[user("1")])
        role = {"type": "roles", "source": {"id": "7", "name": "Boss"}, "subordinates": True}
        update = group_body(
            "g", [role, user("2"), user("99", _delete=True)], description="new description"
        )
        assert (await call(http, "PUT", f"{url}/{group_id}", json=update))[0] == 200
        again = group_body("g", [{**role, "subordinates": False}])
        assert (await call(http, "PUT", f"{url}/{group_id}", json=again))[0] == 200
        group = emulator.groups[group_id]
        assert group.description == "new description"
        flags = {"subordinates": False, "sub_territories": False}
        # Names come from the emulator's directory: users added by id join it.
        assert group.sources == [
            {"type": "users", "source": {"id": "1", "name": "User 1"}, **flags},
            {"type": "roles", "source": {"id": "7", "name": "Boss"}, **flags},
            {"type": "users", "source": {"id": "2", "name": "User 2"}, **flags},
        ]
        assert emulator.directory["2"].full_name == "User 2"


async def test_scheduled_delete_reports_through_the_job() -> None:
    emulator = ZohoEmulator(schedule_deletes=True, deletion_done_status="done")
    async with running(emulator) as (emulator, url, http):
        group_id = emulator.seed_group("doomed")
        status, body = await call(http, "DELETE", f"{url}/{group_id}")
        (entry,) = body["user_groups"]
        # The spec and the SDK allow only "success" as the status of a SCHEDULED entry.
        assert (status, entry["code"], entry["status"]) == (200, "SCHEDULED", "success")
        job_id = entry["details"]["job_id"]
        assert group_id in emulator.groups

        jobs = f"{url}/actions/deletion_jobs"
        status, body = await call(http, "GET", jobs, params={"job_id": job_id})
        assert body == {"deletion_jobs": [{"id": job_id, "Status": "in_progress"}]}
        assert group_id in emulator.groups
        status, body = await call(http, "GET", jobs, params={"job_id": job_id})
        assert body == {"deletion_jobs": [{"id": job_id, "Status": "done"}]}
        assert group_id not in emulator.groups

        status, body = await call(http, "GET", jobs)
        assert status == 400
        assert body["code"] == "REQUIRED_PARAM_MISSING"
        assert body["details"] == {"param_name": "job_id"}
        # No such pending job: 204 with no body, as the v8 spec lists.
        async with http.get(jobs, params={"job_id": "5725767000009999999"}) as response:
            assert (response.status, await response.read()) == (204, b"")


async def test_sources_paging_type_filter_and_204() -> None:
    async with running() as (emulator, url, http):
        empty = emulator.seed_group("empty")
        async with http.get(f"{url}/{empty}/sources") as response:
            assert (response.status, await response.read()) == (204, b"")

        members = [user(str(1000 + n)) for n in range(250)]
        members.append({"type": "territories", "source": {"id": "5", "name": "NY"}})
        big = emulator.seed_group("big", sources=members)
        status, body = await call(http, "GET", f"{url}/{big}/sources")
        assert status == 200
        assert body["info"] == {"per_page": 200, "count": 200, "page": 1, "more_records": True}
        status, body = await call(http, "GET", f"{url}/{big}/sources", params={"page": "2"})
        assert body["info"]["count"] == 51 and body["info"]["more_records"] is False
        params = {"type": "territories"}
        status, body = await call(http, "GET", f"{url}/{big}/sources", params=params)
        assert body["sources"] == [
            {
                "type": "territories",
                "source": {"id": "5", "name": "NY"},
                "subordinates": False,
                "sub_territories": False,
            }
        ]
        status, body = await call(http, "GET", f"{url}/{big}/sources", params={"type": "people"})
        assert status == 400
        assert body["code"] == "PATTERN_NOT_MATCHED"
        assert body["details"] == {"param_name": "type", "regex": "users|roles|groups|territories"}


async def test_list_paging_include_and_filters() -> None:
    async with running() as (emulator, url, http):
        for name in ("Sales EU", "Sales US", "Support", "Marketing", "sales ops"):
            emulator.seed_group(name, sources=[user("1")])
        status, body = await call(http, "GET", url, params={"per_page": "2"})
        assert body["info"] == {"per_page": 2, "count": 2, "page": 1, "more_records": True}
        assert [g["name"] for g in body["user_groups"]] == ["Sales EU", "Sales US"]
        status, body = await call(http, "GET", url, params={"per_page": "2", "page": "3"})
        assert body["info"] == {"per_page": 2, "count": 1, "page": 3, "more_records": False}
        async with http.get(url, params={"per_page": "2", "page": "4"}) as response:
            assert response.status == 204
        status, body = await call(http, "GET", url, params={"per_page": "201"})
        assert (status, body["code"]) == (400, "INVALID_DATA")

        status, body = await call(http, "GET", url, params={"include": "sources_count"})
        assert body["user_groups"][0]["sources_count"]["users"]["active"] == 1

        status, body = await call(http, "GET", url, params={"name": "support"})
        assert [g["name"] for g in body["user_groups"]] == ["Support"]

        criteria = {
            "group_operator": "or",
            "group": [
                {"field": {"api_name": "name"}, "comparator": "starts_with", "value": "sales"},
                {"field": {"api_name": "name"}, "comparator": "contains", "value": "market"},
            ],
        }
        params = {"filters": json.dumps(criteria)}
        status, body = await call(http, "GET", url, params=params)
        assert [g["name"] for g in body["user_groups"]] == [
            "Sales EU",
            "Sales US",
            "Marketing",
            "sales ops",
        ]
        status, body = await call(http, "GET", url, params={"filters": "{not json"})
        assert (status, body["details"]) == (400, {"param_name": "filters"})


async def test_auth_errors_and_read_only_token() -> None:
    emulator = ZohoEmulator(read_only_tokens=("reader",))
    async with running(emulator, headers={}) as (emulator, url, http):
        invalid = {
            "code": "INVALID_TOKEN",
            "details": {},
            "message": "invalid oauth token",
            "status": "error",
        }
        assert await call(http, "GET", url) == (401, invalid)
        bad = {"Authorization": "Zoho-oauthtoken nope"}
        assert await call(http, "GET", url, headers=bad) == (401, invalid)

        reader = {"Authorization": "Zoho-oauthtoken reader"}
        assert (await call(http, "GET", url, headers=reader))[0] == 204
        status, body = await call(http, "POST", url, headers=reader, json=group_body("x"))
        assert status == 403
        assert body == {
            "code": "NO_PERMISSION",
            "details": {"permissions": ["Crm_Implied_Manage_Groups"]},
            "message": "permission denied",
            "status": "error",
        }

        emulator.tokens.expire("test-token")
        assert await call(http, "GET", url, headers=AUTH) == (401, invalid)


async def test_refresh_endpoint_issues_working_tokens() -> None:
    emulator = ZohoEmulator(token_lifetime=0.3, faults=FaultPolicy(rate_500=1.0))
    async with running(emulator, headers={}) as (emulator, url, http):
        base = url.removesuffix(PATH)
        form = {
            "grant_type": "refresh_token",
            "client_id": "test-client-id",
            "client_secret": "test-client-secret",
            "refresh_token": "test-refresh-token",
        }
        bad = await call(http, "POST", base + "/oauth/v2/token", data={**form, "client_id": "x"})
        assert bad == (200, {"error": "invalid_client"})
        # The token endpoint is exempt from faults unless faults_on_auth is set.
        status, body = await call(http, "POST", base + "/oauth/v2/token", data=form)
        assert status == 200
        assert body["api_domain"] == base
        assert body["token_type"] == "Bearer" and body["expires_in"] == 1
        assert body["access_token"].startswith("1000.")
        assert emulator.token_refreshes == 1

        emulator.faults.rate_500 = 0.0
        fresh = {"Authorization": f"Zoho-oauthtoken {body['access_token']}"}
        assert (await call(http, "GET", url, headers=fresh))[0] == 204
        await asyncio.sleep(0.35)
        assert (await call(http, "GET", url, headers=fresh))[0] == 401


@pytest.mark.parametrize(
    ("item", "code", "details"),
    [
        (
            {"sources": []},
            "MANDATORY_NOT_FOUND",
            {"api_name": "name", "json_path": "$.user_groups[0].name"},
        ),
        (
            {"name": "x"},
            "MANDATORY_NOT_FOUND",
            {"api_name": "sources", "json_path": "$.user_groups[0].sources"},
        ),
        (
            {"name": "x" * 251, "sources": []},
            "INVALID_DATA",
            {"api_name": "name", "json_path": "$.user_groups[0].name", "maximum_length": 250},
        ),
        (
            {"name": "x", "description": "d" * 251, "sources": []},
            "INVALID_DATA",
            {
                "api_name": "description",
                "json_path": "$.user_groups[0].description",
                "maximum_length": 250,
            },
        ),
        (
            {"name": "x", "sources": [user(str(n)) for n in range(201)]},
            "INVALID_DATA",
            {"api_name": "sources", "json_path": "$.user_groups[0].sources", "limit": 200},
        ),
        (
            {"name": "x", "sources": [user("1", subordinates=True)]},
            "INVALID_DATA",
            {"api_name": "subordinates", "json_path": "$.user_groups[0].sources[0].subordinates"},
        ),
        (
            {"name": "x", "sources": [{"type": "users", "source": {"id": True}}]},
            "INVALID_DATA",
            {"api_name": "id", "json_path": "$.user_groups[0].sources[0].source.id"},
        ),
        (
            {"name": "x", "sources": [{"type": "users", "source": {"id": "12a"}}]},
            "INVALID_DATA",
            {"api_name": "id", "json_path": "$.user_groups[0].sources[0].source.id"},
        ),
        (
            {"name": "x", "sources": [{"type": "people", "source": {"id": "1"}}]},
            "INVALID_DATA",
            {"api_name": "type", "json_path": "$.user_groups[0].sources[0].type"},
        ),
    ],
)
async def test_create_validation_errors(item: Any, code: str, details: Any) -> None:
    async with running() as (emulator, url, http):
        status, body = await call(http, "POST", url, json={"user_groups": [item]})
        assert status == 400
        (entry,) = body["user_groups"]
        assert (entry["code"], entry["details"], entry["status"]) == (code, details, "error")
        assert emulator.groups == {}


async def test_duplicate_names_on_create_and_rename() -> None:
    async with running() as (emulator, url, http):
        emulator.seed_group("Sales")
        other = emulator.seed_group("Support")
        status, body = await call(http, "POST", url, json=group_body("SALES"))
        assert status == 400
        assert body["user_groups"][0] == {
            "code": "DUPLICATE_DATA",
            "details": {"api_name": "name", "json_path": "$.user_groups[0].name"},
            "message": "duplicate data",
            "status": "error",
        }
        status, body = await call(http, "PUT", f"{url}/{other}", json=group_body("sales"))
        assert (status, body["user_groups"][0]["code"]) == (400, "DUPLICATE_DATA")
        # Renaming a group to (a different case of) its own name is fine.
        assert (await call(http, "PUT", f"{url}/{other}", json=group_body("SUPPORT")))[0] == 200


async def test_request_level_errors() -> None:
    async with running() as (emulator, url, http):
        status, body = await call(http, "POST", url, data=b"{not json")
        assert (status, body["code"], body["status"]) == (400, "INVALID_DATA", "error")
        status, body = await call(http, "POST", url, json={"groups": []})
        assert (status, body["code"]) == (400, "MANDATORY_NOT_FOUND")
        assert emulator.groups == {}

        invalid_id = {
            "code": "INVALID_DATA",
            "details": {"resource_path_index": 0},
            "message": "the given id seems to be invalid",
            "status": "error",
        }
        for method, json_body in (("PUT", group_body("x")), ("DELETE", None)):
            assert await call(http, method, f"{url}/123", json=json_body) == (400, invalid_id)
        assert await call(http, "GET", f"{url}/123/sources") == (400, invalid_id)
        # GET one group: the v8 spec lists 204, no body, for an id with no group.
        for missing in ("123", "abc"):
            async with http.get(f"{url}/{missing}") as response:
                assert (response.status, await response.read()) == (204, b"")

        status, body = await call(http, "GET", url.replace("/v8/", "/v5/"))
        assert (status, body["code"]) == (404, "INVALID_URL_PATTERN")
        status, body = await call(http, "GET", url.replace("user_groups", "user_gropus"))
        assert (status, body["code"]) == (404, "INVALID_URL_PATTERN")
        status, body = await call(http, "PATCH", url, json={})
        assert (status, body["code"]) == (400, "INVALID_REQUEST_METHOD")


async def test_batches_answer_per_item_with_partial_success() -> None:
    emulator = ZohoEmulator(max_groups_per_request=3)
    async with running(emulator) as (emulator, url, http):
        emulator.seed_group("taken")
        items: list[dict[str, Any]] = [{"name": n, "sources": []} for n in ("one", "Taken", "two")]
        status, body = await call(http, "POST", url, json={"user_groups": items})
        assert status == 207
        codes = [entry["code"] for entry in body["user_groups"]]
        assert codes == ["SUCCESS", "DUPLICATE_DATA", "SUCCESS"]
        assert body["user_groups"][1]["details"]["json_path"] == "$.user_groups[1].name"
        assert sorted(g.name for g in emulator.groups.values()) == ["one", "taken", "two"]

        one = emulator.group_named("one")
        assert one is not None
        updates = [
            {"id": one.id, "name": "uno", "sources": [user("4")]},
            {"id": "42", "name": "ghost", "sources": []},
        ]
        status, body = await call(http, "PUT", url, json={"user_groups": updates})
        assert status == 207
        assert body["user_groups"][0]["details"] == {"id": one.id}
        assert body["user_groups"][1]["code"] == "INVALID_DATA"
        assert body["user_groups"][1]["details"]["json_path"] == "$.user_groups[1].id"
        assert emulator.groups[one.id].name == "uno"


async def test_known_members_reject_unknown_ids_and_supply_names() -> None:
    emulator = ZohoEmulator(known_members={"users": {"1": "Ann"}, "roles": {"7"}})
    async with running(emulator) as (emulator, url, http):
        status, body = await call(http, "POST", url, json=group_body("g", [user("2")]))
        assert (status, body["user_groups"][0]["code"]) == (400, "INVALID_DATA")
        members = [user("1"), {"type": "roles", "source": {"id": "7"}}, user("999", _delete=True)]
        status, body = await call(http, "POST", url, json=group_body("g", members))
        assert status == 201
        group = emulator.group_named("g")
        assert group is not None
        assert group.sources[0]["source"] == {"id": "1", "name": "Ann"}


async def test_requests_are_recorded() -> None:
    async with running() as (emulator, url, http):
        await call(http, "POST", url, json=group_body("g"), params={"x": "1"})
        (recorded,) = emulator.requests
        assert recorded.method == "POST" and recorded.path == PATH
        assert recorded.query == {"x": "1"}
        assert recorded.json == group_body("g")
        assert recorded.header("authorization") == "Zoho-oauthtoken test-token"
        assert "Authorization" in recorded.headers


async def test_in_flight_cap_answers_429_immediately() -> None:
    emulator = ZohoEmulator(faults=FaultPolicy(latency=0.2, max_in_flight=2, retry_after=3))
    async with running(emulator) as (emulator, url, http):

        async def one() -> tuple[int, Any, str | None]:
            async with http.get(url) as response:
                text = await response.text()
                body = json.loads(text) if text else None
                return response.status, body, response.headers.get("Retry-After")

        answers = await asyncio.gather(*(one() for _ in range(5)))
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [204, 204, 429, 429, 429]
        throttled = [a for a in answers if a[0] == 429]
        assert all(body["code"] == "TOO_MANY_REQUESTS" for _, body, _ in throttled)
        assert all(retry == "3" for _, _, retry in throttled)
        assert emulator.stats.peak_in_flight == 2
        assert emulator.stats.capped == 3 and emulator.stats.too_many_requests == 3


async def test_dropped_connections_before_and_after_handling() -> None:
    emulator = ZohoEmulator(faults=FaultPolicy(drop_rate=1.0))
    async with running(emulator) as (emulator, url, http):
        with pytest.raises(aiohttp.ClientConnectionError):
            await call(http, "POST", url, json=group_body("lost"))
        assert emulator.groups == {}

        emulator.faults.drop_after_handling = True
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await call(http, "POST", url, json=group_body("stored anyway"))
        assert emulator.group_named("stored anyway") is not None
        assert emulator.stats.drops == 2

        emulator.faults.drop_rate = 0.0
        status, body = await call(http, "POST", url, json=group_body("stored anyway"))
        assert (status, body["user_groups"][0]["code"]) == (400, "DUPLICATE_DATA")


async def test_injected_errors_use_zoho_bodies() -> None:
    emulator = ZohoEmulator(faults=FaultPolicy(rate_503=1.0))
    async with running(emulator) as (emulator, url, http):
        status, body = await call(http, "GET", url)
        assert (status, body["code"], body["status"]) == (503, "SERVICE_UNAVAILABLE", "error")
        emulator.faults.rate_503, emulator.faults.rate_500 = 0.0, 1.0
        status, body = await call(http, "GET", url)
        assert (status, body["code"]) == (500, "INTERNAL_SERVER_ERROR")


@pytest.mark.slow  # a subprocess
def test_runs_as_a_module_and_prints_its_url() -> None:
    command = [sys.executable, "-m", "unigroups.testing.zoho_emulator", "--token", "cli-token"]
    # The context manager closes the pipe; terminate() ends the server like a signal would.
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base = process.stdout.readline().strip()
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)

            async def probe() -> int:
                headers = {"Authorization": "Zoho-oauthtoken cli-token"}
                async with (
                    aiohttp.ClientSession(headers=headers) as http,
                    http.get(base + PATH) as response,
                ):
                    return response.status

            assert asyncio.run(probe()) == 204
        finally:
            process.terminate()
    assert process.returncode == 0


@pytest.mark.slow  # a subprocess
def test_unigroups_emulate_zoho_seeds_groups_and_takes_its_limits() -> None:
    command = [
        sys.executable,
        "-c",
        "import sys; from unigroups.cli import main; sys.exit(main())",
        "emulate",
        "zoho",
        "--token",
        "cli-token",
        "--seed-groups",
        "3",
        "--name-max-length",
        "5",
        "--test-max-groups-per-request",
        "2",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base = process.stdout.readline().strip()

            def call(method: str, body: Any = None) -> tuple[int, Any]:
                request = urllib.request.Request(
                    f"{base}/crm/v8/settings/user_groups",
                    method=method,
                    data=None if body is None else json.dumps(body).encode(),
                    headers={"Authorization": "Zoho-oauthtoken cli-token"},
                )
                try:
                    with urllib.request.urlopen(request) as answer:
                        return answer.status, json.load(answer)
                except urllib.error.HTTPError as error:
                    return error.code, json.load(error)

            status, listing = call("GET")
            assert status == 200
            assert [g["name"] for g in listing["user_groups"]] == [
                f"seeded group {n:07d}" for n in range(3)
            ]
            two = {"user_groups": [{"name": "a", "sources": []}, {"name": "b", "sources": []}]}
            assert call("POST", two)[0] == 201
            three = {"user_groups": [{"name": n, "sources": []} for n in ("c", "d", "e")]}
            status, body = call("POST", three)
            assert (status, body["code"], body["details"]["limit"]) == (400, "LIMIT_EXCEEDED", 2)
            status, body = call("POST", {"user_groups": [{"name": "sixsix", "sources": []}]})
            assert (status, body["user_groups"][0]["details"]["maximum_length"]) == (400, 5)
        finally:
            process.terminate()


def test_emulate_zoho_help_states_the_token_and_the_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from unigroups.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["emulate", "zoho", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Zoho-oauthtoken" in text and "test-token" in text
    for option in (
        "--seed-groups N",
        "--name-max-length N",
        "--description-max-length N",
        "--max-sources-per-request N",
        "--test-max-groups-per-request N",
    ):
        assert option in text
    assert "Zoho publishes no figure" in text and "test knob" in text


NUMBERS = {
    "user_groups": [
        {
            "name": "by number",
            "sources": [
                {"type": "users", "source": {"id": 3652397000000281001}},
                {"type": "roles", "source": {"id": 3652397000000026008}, "subordinates": True},
                {
                    "type": "territories",
                    "source": {"id": 3652397000007622003},
                    "subordinates": True,
                    "sub_territories": True,
                },
                {"type": "users", "source": {"id": 3652397000000999001}},
            ],
        }
    ]
}


async def test_ids_as_json_numbers_and_names_filled_from_the_directory() -> None:
    async with running() as (emulator, url, http):
        status, body = await call(http, "POST", url, json=NUMBERS)
        assert status == 201
        group_id = body["user_groups"][0]["details"]["id"]
        assert isinstance(group_id, str)
        status, body = await call(http, "GET", f"{url}/{group_id}/sources")
        assert body["sources"] == [
            {
                "type": "users",
                "source": {"id": "3652397000000281001", "name": "Deborah Gill"},
                "subordinates": False,
                "sub_territories": False,
            },
            {
                "type": "roles",
                "source": {"id": "3652397000000026008", "name": "Manager"},
                "subordinates": True,
                "sub_territories": False,
            },
            {
                "type": "territories",
                "source": {"id": "3652397000007622003", "name": "New York"},
                "subordinates": True,
                "sub_territories": True,
            },
            {
                "type": "users",
                "source": {"id": "3652397000000999001", "name": "User 999001"},
                "subordinates": False,
                "sub_territories": False,
            },
        ]
        # A user added by an unknown id joins the users directory.
        status, body = await call(
            http, "GET", url.replace("settings/user_groups", "users/3652397000000999001")
        )
        assert (status, body["users"][0]["full_name"]) == (200, "User 999001")

        bulk = {"user_groups": [{"id": int(group_id), "name": "renamed", "sources": []}]}
        status, body = await call(http, "PUT", url, json=bulk)
        assert (status, body["user_groups"][0]["details"]) == (200, {"id": group_id})
        assert emulator.groups[group_id].name == "renamed"


async def test_users_directory_paging_types_and_one_user() -> None:
    async with running() as (emulator, url, http):
        users = url.replace("settings/user_groups", "users")
        status, body = await call(http, "GET", users, params={"per_page": "2"})
        assert status == 200
        assert body["info"] == {"per_page": 2, "count": 2, "page": 1, "more_records": True}
        first = body["users"][0]
        assert first == {
            "id": "3652397000000186017",
            "first_name": "Patricia",
            "last_name": "Boyle",
            "full_name": "Patricia Boyle",
            "email": "patricia.boyle@example.com",
            "status": "active",
            "confirm": True,
            "role": {"name": "CEO", "id": "3652397000000026005"},
            "profile": {"name": "Administrator", "id": "3652397000000026011"},
            "zuid": first["zuid"],
        }
        status, body = await call(http, "GET", users, params={"type": "DeactiveUsers"})
        assert [(u["full_name"], u["status"]) for u in body["users"]] == [
            ("Ruth Ellis", "disabled")
        ]
        status, body = await call(http, "GET", users, params={"type": "CurrentUser"})
        assert [u["id"] for u in body["users"]] == [emulator.current_user["id"]]
        ids = "3652397000000281001,3652397000000281017"
        status, body = await call(http, "GET", users, params={"ids": ids})
        assert [u["full_name"] for u in body["users"]] == ["Deborah Gill", "Kevin Ward"]
        status, body = await call(http, "GET", users, params={"type": "Everyone"})
        assert (status, body["details"]) == (400, {"param_name": "type"})
        async with http.get(users, params={"page": "9"}) as response:
            assert (response.status, await response.read()) == (204, b"")

        status, body = await call(http, "GET", users.replace("/users", "/org"))
        assert (status, body["org"][0]["zgid"]) == (200, emulator.org["zgid"])
        status, body = await call(http, "GET", f"{users}/3652397000000281001")
        assert [u["email"] for u in body["users"]] == ["deborah.gill@example.com"]
        async with http.get(f"{users}/3652397000000000001") as response:
            assert (response.status, await response.read()) == (204, b"")


async def test_groups_of_a_user_counts_and_associations() -> None:
    async with running() as (emulator, url, http):
        deborah = {"type": "users", "source": {"id": "3652397000000281001"}}
        ruth = {"type": "users", "source": {"id": "3652397000000281033"}}
        one = emulator.seed_group("one", sources=[deborah, ruth])
        emulator.seed_group("two")
        three = emulator.seed_group("three", sources=[deborah])
        users = url.replace("settings/user_groups", "users")

        status, body = await call(
            http, "GET", f"{users}/3652397000000281001/actions/associated_groups"
        )
        assert status == 200
        assert [g["id"] for g in body["user_groups"]] == [one, three]
        assert set(body["user_groups"][0]) == {
            "id",
            "name",
            "description",
            "created_time",
            "modified_time",
            "created_by",
            "modified_by",
        }
        assert body["info"]["count"] == 2
        params = {"include": "sources,sources_count"}
        status, body = await call(
            http, "GET", f"{users}/3652397000000281001/actions/associated_groups", params=params
        )
        assert body["user_groups"][1]["sources_count"]["users"]["active"] == 1
        assert [s["source"]["name"] for s in body["user_groups"][1]["sources"]] == ["Deborah Gill"]
        async with http.get(f"{users}/3652397000000186017/actions/associated_groups") as response:
            assert response.status == 204

        status, body = await call(http, "GET", f"{url}/actions/associated_users_count")
        assert [(e["user_group"]["name"], e["count"]) for e in body["associated_users_count"]] == [
            ("one", 2),
            ("two", 0),
            ("three", 1),
        ]
        assert body["info"]["more_records"] is False

        status, body = await call(http, "GET", f"{url}/{one}/actions/sources_count")
        assert body == {
            "sources_count": [
                {
                    "users": {"active": 1, "inactive": 1, "deleted": 0},
                    "roles": 0,
                    "territories": 0,
                    "groups": 0,
                }
            ]
        }
        params = {"type": "users", "user_type": "inactive"}
        status, body = await call(http, "GET", f"{url}/{one}/sources", params=params)
        assert [s["source"]["name"] for s in body["sources"]] == ["Ruth Ellis"]
        status, body = await call(
            http, "GET", f"{url}/{one}/associated_users/actions/grouped_counts"
        )
        assert body["grouped_counts"] == [
            {"status": "active", "count": 1},
            {"status": "inactive", "count": 1},
        ]

        async with http.get(f"{url}/{one}/actions/associations") as response:
            assert response.status == 204
        rule = {
            "type": "sharing_rule",
            "resource": {"id": "3652397000012345001", "name": "Leads to sales"},
            "detail": {"module": {"api_name": "Leads", "id": "3652397000000002175"}},
        }
        emulator.associations[one] = [rule]
        status, body = await call(http, "GET", f"{url}/{one}/actions/associations")
        assert (status, body) == (200, {"associations": [rule]})


async def test_limits_are_options_and_the_group_cap_is_a_test_knob() -> None:
    two = {"user_groups": group_body("a")["user_groups"] + group_body("b")["user_groups"]}
    async with running() as (emulator, url, http):
        # Zoho publishes no cap on groups per call: by default any number is taken.
        assert (await call(http, "POST", url, json=two))[0] == 201
    emulator = ZohoEmulator(
        limits=Limits(name_max_length=3, description_max_length=None, sources_per_request=1),
        max_groups_per_request=1,
    )
    async with running(emulator) as (emulator, url, http):
        status, body = await call(http, "POST", url, json=two)
        assert status == 400
        assert body["code"] == "LIMIT_EXCEEDED"
        assert body["details"] == {
            "api_name": "user_groups",
            "json_path": "$.user_groups",
            "limit": 1,
        }
        status, body = await call(http, "POST", url, json=group_body("four"))
        assert body["user_groups"][0]["details"]["maximum_length"] == 3
        long_text = group_body("abc", description="d" * 5000)
        assert (await call(http, "POST", url, json=long_text))[0] == 201
        status, body = await call(http, "POST", url, json=group_body("xyz", [user("1"), user("2")]))
        assert body["user_groups"][0]["details"]["limit"] == 1
