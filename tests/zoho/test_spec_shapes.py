"""The Zoho emulator's answers, validated against the schemas of Zoho's published v8
OpenAPI files (``zoho_v8_schemas.py``: source, licence and every departure from the file).

Raw HTTP on loopback, no unigroups client in between: what is checked is the emulator's JSON
as a real Zoho client would receive it. The schemas are closed objects, so a renamed field or
a changed type fails (``test_the_schemas_refuse_a_renamed_field_or_a_changed_type``).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jsonschema
import pytest

from unigroups.testing.server import serve
from unigroups.testing.zoho_emulator import ZohoEmulator

from . import zoho_v8_schemas as spec

TOKEN = "test-token"  # the emulator's default access token
HEADERS = {"Authorization": f"Zoho-oauthtoken {TOKEN}"}
UNKNOWN_ID = "2147480001"


def check(schema: spec.Schema, answer: Any) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(answer)


class Zoho:
    """The emulator over HTTP: ``call`` answers (status, JSON or None for an empty body)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, emulator: ZohoEmulator):
        self.session, self.base, self.emulator = session, base, emulator

    async def call(self, method: str, path: str, body: Any = None, **query: str) -> tuple[int, Any]:
        url = f"{self.base}/crm/v8{path}"
        async with self.session.request(
            method, url, json=body, params=query, headers=HEADERS
        ) as reply:
            raw = await reply.read()
            return reply.status, (await reply.json(content_type=None)) if raw else None

    async def create(self, name: str, sources: list[Any] | None = None) -> str:
        item = {"name": name, "description": None, "sources": sources or []}
        status, answer = await self.call("POST", "/settings/user_groups", {"user_groups": [item]})
        assert status == 201, answer
        group_id: str = answer["user_groups"][0]["details"]["id"]
        return group_id

    async def user_ids(self) -> list[str]:
        _, answer = await self.call("GET", "/users", type="AllUsers")
        return [u["id"] for u in answer["users"]]

    async def members(self) -> list[Any]:
        """One member of every kind the emulator knows (users, a role, a territory)."""
        users = await self.user_ids()
        role = next(iter(self.emulator.roles))
        territory = next(iter(self.emulator.territories))
        return [
            {"type": "users", "source": {"id": users[0]}},
            {"type": "roles", "source": {"id": role}, "subordinates": True},
            {"type": "territories", "source": {"id": territory}, "subordinates": False},
        ]


async def _zoho(emulator: ZohoEmulator) -> AsyncIterator[Zoho]:
    async with serve(emulator.make_app()) as base, aiohttp.ClientSession() as session:
        yield Zoho(session, base.rstrip("/"), emulator)


@pytest.fixture
async def zoho() -> AsyncIterator[Zoho]:
    async for client in _zoho(ZohoEmulator()):
        yield client


@pytest.fixture
async def zoho_scheduling() -> AsyncIterator[Zoho]:
    async for client in _zoho(ZohoEmulator(schedule_deletes=True)):
        yield client


# -- the schemas themselves ----------------------------------------------------------------

GROUP_SAMPLE = {  # the file's getGroup example, with sources_count in the schema's shape
    "user_groups": [
        {
            "created_time": "2022-11-21T12:33:12+05:30",
            "sources_count": {
                "territories": 1,
                "roles": 2,
                "users": {"active": 3, "inactive": 0, "deleted": 0},
                "groups": 1,
            },
            "modified_time": "2022-11-21T13:21:46+05:30",
            "name": "group 1",
            "modified_by": {"name": "Patricia Boyle", "id": "3652397000000186017"},
            "description": "groups API",
            "id": "3652397000009949005",
            "created_by": {"name": "Patricia Boyle", "id": "3652397000000186017"},
        }
    ],
    "info": {"per_page": 200, "count": 1, "page": 1, "more_records": False},
}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda g: g.update(group_name=g.pop("name")), "a renamed field"),
        (lambda g: g.update(id=int(g["id"])), "an id as a number"),
        (lambda g: g.update(description=7), "a description as a number"),
        (lambda g: g.update(created_time="21/11/2022"), "a timestamp not in ISO 8601"),
        (lambda g: g["sources_count"].update(users=3), "users counted as a number"),
        (lambda g: g["created_by"].pop("id"), "an owner without id"),
    ],
)
def test_the_schemas_refuse_a_renamed_field_or_a_changed_type(change: Any, why: str) -> None:
    check(spec.GROUP_ANSWER, GROUP_SAMPLE)
    check(spec.GROUPS_ANSWER, GROUP_SAMPLE)
    broken = copy.deepcopy(GROUP_SAMPLE)
    change(broken["user_groups"][0])
    with pytest.raises(jsonschema.ValidationError):
        check(spec.GROUP_ANSWER, broken)


def test_the_user_schema_refuses_a_renamed_field_or_a_changed_type() -> None:
    user = {"id": "1", "full_name": "A B", "email": "a@b.com", "status": "active"}
    check(spec.USER_ANSWER, {"users": [user]})
    for broken in (
        {**user, "id": 1},
        {**{k: v for k, v in user.items() if k != "email"}, "mail": "a@b.com"},
        {**user, "confirm": "yes"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            check(spec.USER_ANSWER, {"users": [broken]})


# -- user groups -------------------------------------------------------------------------


async def test_the_listing(zoho: Zoho) -> None:
    await zoho.create("listed", await zoho.members())
    await zoho.create("bare")
    status, answer = await zoho.call("GET", "/settings/user_groups")
    assert status == 200
    check(spec.GROUPS_ANSWER, answer)
    status, answer = await zoho.call("GET", "/settings/user_groups", include="sources_count")
    check(spec.GROUPS_ANSWER, answer)
    assert all("sources_count" in g for g in answer["user_groups"])


async def test_an_empty_org_lists_with_204_and_no_body(zoho: Zoho) -> None:
    for group in list(zoho.emulator.groups):
        await zoho.call("DELETE", f"/settings/user_groups/{group}")
    assert await zoho.call("GET", "/settings/user_groups") == (204, None)


async def test_get_one(zoho: Zoho) -> None:
    group_id = await zoho.create("one", await zoho.members())
    status, answer = await zoho.call("GET", f"/settings/user_groups/{group_id}")
    assert status == 200
    check(spec.GROUP_ANSWER, answer)


async def test_get_one_of_an_unknown_id_is_204(zoho: Zoho) -> None:
    assert await zoho.call("GET", f"/settings/user_groups/{UNKNOWN_ID}") == (204, None)


async def test_sources(zoho: Zoho) -> None:
    group_id = await zoho.create("with members", await zoho.members())
    for query in ({}, {"type": "users"}, {"type": "roles"}, {"user_type": "active"}):
        status, answer = await zoho.call(
            "GET", f"/settings/user_groups/{group_id}/sources", **query
        )
        assert status == 200, query
        check(spec.SOURCES_ANSWER, answer)


async def test_sources_name_is_filled_for_members_added_by_id(zoho: Zoho) -> None:
    group_id = await zoho.create("named", await zoho.members())
    _, answer = await zoho.call("GET", f"/settings/user_groups/{group_id}/sources")
    assert all(isinstance(s["source"].get("name"), str) for s in answer["sources"])


async def test_sources_count(zoho: Zoho) -> None:
    group_id = await zoho.create("counted", await zoho.members())
    status, answer = await zoho.call(
        "GET", f"/settings/user_groups/{group_id}/actions/sources_count"
    )
    assert status == 200
    check(spec.SOURCES_COUNT_ANSWER, answer)


async def test_create_update_and_delete_answers(zoho: Zoho) -> None:
    members = await zoho.members()
    item = {"name": "created", "description": "d", "sources": members}
    status, answer = await zoho.call("POST", "/settings/user_groups", {"user_groups": [item]})
    assert status == 201
    check(spec.ACTION_ANSWER, answer)
    group_id = answer["user_groups"][0]["details"]["id"]
    path = f"/settings/user_groups/{group_id}"
    change = {"name": "updated", "sources": [{**members[0], "_delete": True}]}
    status, answer = await zoho.call("PUT", path, {"user_groups": [change]})
    assert status == 200
    check(spec.ACTION_ANSWER, answer)
    bulk = {"id": group_id, "name": "bulk", "sources": [members[0]]}
    status, answer = await zoho.call("PUT", "/settings/user_groups", {"user_groups": [bulk]})
    assert status == 200
    check(spec.ACTION_ANSWER, answer)
    status, answer = await zoho.call("DELETE", path)
    assert status == 200
    check(spec.ACTION_ANSWER, answer)
    assert answer["user_groups"][0]["code"] == "SUCCESS"


async def test_ids_sent_as_json_numbers_are_accepted(zoho: Zoho) -> None:
    members = await zoho.members()
    numeric = [{**m, "source": {"id": int(m["source"]["id"])}} for m in members]
    item = {"name": "numbers", "sources": numeric}
    status, answer = await zoho.call("POST", "/settings/user_groups", {"user_groups": [item]})
    assert status == 201, answer
    check(spec.ACTION_ANSWER, answer)


async def test_a_scheduled_delete_answer(zoho_scheduling: Zoho) -> None:
    group_id = await zoho_scheduling.create("scheduled")
    status, answer = await zoho_scheduling.call("DELETE", f"/settings/user_groups/{group_id}")
    assert status == 200
    check(spec.ACTION_ANSWER, answer)
    (entry,) = answer["user_groups"]
    assert (entry["code"], entry["status"]) == ("SCHEDULED", "success")
    assert set(entry["details"]) == {"job_id"}


async def test_no_pending_deletion_job_is_204(zoho: Zoho) -> None:
    status, body = await zoho.call(
        "GET", "/settings/user_groups/actions/deletion_jobs", job_id="111111"
    )
    assert (status, body) == (204, None)


# -- errors ----------------------------------------------------------------------------------


async def test_a_duplicate_name_answer(zoho: Zoho) -> None:
    await zoho.create("taken")
    item = {"name": "taken", "sources": []}
    status, answer = await zoho.call("POST", "/settings/user_groups", {"user_groups": [item]})
    assert status == 400
    check(spec.BODY_ERROR_ANSWER, answer)
    assert answer["user_groups"][0]["code"] == "DUPLICATE_DATA"


async def test_a_missing_name_answer(zoho: Zoho) -> None:
    status, answer = await zoho.call(
        "POST", "/settings/user_groups", {"user_groups": [{"sources": []}]}
    )
    assert status == 400
    check(spec.BODY_ERROR_ANSWER, answer)


async def test_an_unknown_id_in_the_path_answer(zoho: Zoho) -> None:
    path = f"/settings/user_groups/{UNKNOWN_ID}"
    for method, body in (
        ("PUT", {"user_groups": [{"name": "x", "sources": []}]}),
        ("DELETE", None),
    ):
        status, answer = await zoho.call(method, path, body)
        assert status == 400, method
        check(spec.INVALID_URL_ERROR, answer)


async def test_a_deletion_job_without_its_id_answer(zoho: Zoho) -> None:
    status, answer = await zoho.call("GET", "/settings/user_groups/actions/deletion_jobs")
    assert status == 400
    check(spec.MANDATORY_PARAM_ERROR, answer)


async def test_an_invalid_token_answer(zoho: Zoho) -> None:
    url = f"{zoho.base}/crm/v8/settings/user_groups"
    headers = {"Authorization": "Zoho-oauthtoken nope"}
    async with zoho.session.get(url, headers=headers) as reply:
        assert reply.status == 401
        answer = await reply.json()
    check(spec.ANY_ERROR, answer)
    assert answer["code"] == "INVALID_TOKEN"


# -- users ---------------------------------------------------------------------------------


async def test_the_users_listing(zoho: Zoho) -> None:
    for kind in ("ActiveUsers", "AllUsers"):
        status, answer = await zoho.call("GET", "/users", type=kind)
        assert status == 200, kind
        check(spec.USERS_ANSWER, answer)
        assert answer["users"], kind


async def test_get_one_user(zoho: Zoho) -> None:
    (user_id, *_) = await zoho.user_ids()
    status, answer = await zoho.call("GET", f"/users/{user_id}")
    assert status == 200
    check(spec.USER_ANSWER, answer)


async def test_get_one_user_of_an_unknown_id_is_204(zoho: Zoho) -> None:
    assert await zoho.call("GET", f"/users/{UNKNOWN_ID}") == (204, None)


async def test_a_users_associated_groups(zoho: Zoho) -> None:
    members = await zoho.members()
    await zoho.create("holds the user", members)
    status, answer = await zoho.call(
        "GET", f"/users/{members[0]['source']['id']}/actions/associated_groups"
    )
    assert status == 200
    check(spec.ASSOCIATED_GROUPS_ANSWER, answer)
    assert [g["name"] for g in answer["user_groups"]] == ["holds the user"]
