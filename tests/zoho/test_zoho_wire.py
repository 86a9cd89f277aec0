"""The exact requests ZohoBackend sends and what it makes of Zoho's answers (aioresponses)."""

import gc
import json
import re
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from unigroups import (
    AuthenticationError,
    DuplicateGroupError,
    Group,
    GroupChanges,
    InvalidDataError,
    Member,
    MemberKind,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
    open_backend,
)
from unigroups.backends.zoho import ZohoBackend
from unigroups.backends.zoho.wire import (
    answer_entries,
    changes_to_sources,
    entry_json,
    group_from_zoho,
    group_to_zoho,
    members_from_answer,
    new_group_item,
)
from unigroups.http import FixedThrottle

from ..fake_time import Waits

SEEDS = Path(__file__).parents[1] / "seeds"
API = "https://www.zohoapis.eu/crm/v8/settings/user_groups"
TOKEN = "1000.8cb99dxxxxxxxxxxxxx9be93.9b8xxxxxxxxxxxxxxxf"


def seed(name: str) -> Any:
    return json.loads((SEEDS / name).read_text())


PATRICIA = Member(MemberKind.USER, "3652397000000186017", name="Patricia Boyle")
MANAGER = Member(MemberKind.ROLE, "3652397000000026008", name="Manager", include_subordinates=True)
NEW_YORK = Member(
    MemberKind.TERRITORY, "3652397000007622003", name="New York", include_subordinates=True
)
DEBORAH = Member(MemberKind.USER, "3652397000000281001", name="Deborah Gill")
SEED_GROUP = Group(
    name="test group", description="my group", members=(PATRICIA, MANAGER, NEW_YORK, DEBORAH)
)


@pytest.fixture
async def zoho() -> AsyncIterator[ZohoBackend]:
    waits = Waits()  # retries and Retry-After pauses pass without waiting
    throttle = FixedThrottle(4, clock=waits.now, sleep=waits)
    backend = open_backend("zoho", dc="eu", access_token=TOKEN, max_attempts=3, throttle=throttle)
    assert isinstance(backend, ZohoBackend)
    backend.transport._sleep = waits
    async with backend:
        yield backend


def sent(m: aioresponses, method: str, url: str) -> list[Any]:
    return m.requests.get((method, URL(url)), [])


def body_of(call: Any) -> Any:
    return json.loads(call.kwargs["data"])


async def test_create_sends_the_seed_request_and_reads_the_seed_response(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    mocked.post(API, status=201, payload=seed("zoho-create-response.json"))
    created = await zoho.create(SEED_GROUP)
    (call,) = sent(mocked, "POST", API)
    assert body_of(call) == seed("zoho-create-request.json")
    assert call.kwargs["headers"]["Authorization"] == f"Zoho-oauthtoken {TOKEN}"
    assert created.id == "5725767000002350003"
    assert created == Group(
        name="test group",
        description="my group",
        members=SEED_GROUP.members,
        id="5725767000002350003",
        backend="zoho",
    )


async def test_update_sends_the_seed_request_with_delete(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    group_id = "3652397000009949005"
    url = f"{API}/{group_id}"
    mocked.put(url, payload=seed("zoho-update-response.json"))
    mocked.get(url, payload={"user_groups": [{"id": group_id, "name": "test group"}]})
    mocked.get(
        re.compile(re.escape(url) + r"/sources\?.*"),
        payload={
            "sources": [{"type": "users", "source": {"id": PATRICIA.id, "name": "Patricia Boyle"}}],
            "info": {"per_page": 200, "count": 1, "page": 1, "more_records": False},
        },
    )
    changes = GroupChanges(
        name="test group",
        description="my group",
        add=(PATRICIA, MANAGER, NEW_YORK),
        remove=(DEBORAH,),
    )
    updated = await zoho.update(group_id, changes)
    (call,) = sent(mocked, "PUT", url)
    assert body_of(call) == seed("zoho-update-request.json")
    assert updated.id == group_id and updated.members == (PATRICIA,)


async def test_update_without_a_name_sends_the_current_name(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    group_id = "3652397000009949005"
    url = f"{API}/{group_id}"
    group = {"id": group_id, "name": "current", "description": None}
    mocked.get(url, payload={"user_groups": [group]}, repeat=True)
    mocked.put(url, payload=seed("zoho-update-response.json"))
    mocked.get(re.compile(re.escape(url) + r"/sources\?.*"), status=204)
    await zoho.update(group_id, GroupChanges(remove=(DEBORAH,)))
    (call,) = sent(mocked, "PUT", url)
    assert body_of(call) == {
        "user_groups": [
            {
                "name": "current",
                "sources": [
                    {
                        "source": {"id": DEBORAH.id, "name": "Deborah Gill"},
                        "type": "users",
                        "_delete": True,
                    }
                ],
            }
        ]
    }


async def test_update_clearing_the_description_sends_null(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    url = f"{API}/1"
    mocked.put(url, payload=seed("zoho-update-response.json"))
    mocked.get(url, payload={"user_groups": [{"id": "1", "name": "n"}]})
    mocked.get(re.compile(re.escape(url) + r"/sources\?.*"), status=204)
    await zoho.update("1", GroupChanges(name="n", description=None))
    (call,) = sent(mocked, "PUT", url)
    assert body_of(call) == {"user_groups": [{"name": "n", "description": None, "sources": []}]}


async def test_a_group_over_200_members_is_completed_by_puts(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    members = tuple(Member(MemberKind.USER, str(10**18 + n)) for n in range(450))
    mocked.post(API, status=201, payload=seed("zoho-create-response.json"))
    url = f"{API}/5725767000002350003"
    mocked.put(url, payload=seed("zoho-update-response.json"), repeat=True)
    created = await zoho.create(Group(name="big", members=members))
    (post,) = sent(mocked, "POST", API)
    puts = sent(mocked, "PUT", url)
    sizes = [len(body_of(c)["user_groups"][0]["sources"]) for c in [post, *puts]]
    assert sizes == [200, 200, 50]
    assert all(body_of(c)["user_groups"][0]["name"] == "big" for c in puts)
    sent_ids = [
        s["source"]["id"] for c in [post, *puts] for s in body_of(c)["user_groups"][0]["sources"]
    ]
    assert sent_ids == [m.id for m in members]
    assert created.members == members


async def test_groups_pages_lazily_and_treats_204_as_empty(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    def page(n: int, more: bool) -> dict[str, Any]:
        return {
            "user_groups": [{"id": str(1000 + n), "name": f"g{n}"}],
            "info": {"per_page": 200, "count": 1, "page": n, "more_records": more},
        }

    mocked.get(f"{API}?page=1&per_page=200", payload=page(1, True))
    mocked.get(f"{API}?page=2&per_page=200", payload=page(2, False))
    iterator = zoho.groups()
    first = await iterator.__anext__()
    assert first.name == "g1"
    assert len(mocked.requests) == 1, "the second page was fetched before it was needed"
    rest = [g.name async for g in iterator]
    assert rest == ["g2"]

    mocked.get(f"{API}?page=1&per_page=200", status=204)
    assert [g async for g in zoho.groups()] == []


async def test_find_uses_the_name_query_and_matches_exactly(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    mocked.get(
        f"{API}?name=Sales&page=1&per_page=200",
        payload={
            "user_groups": [{"id": "1", "name": "Sales EMEA"}, {"id": "2", "name": "Sales"}],
            "info": {"more_records": False},
        },
    )
    found = await zoho.find("Sales")
    assert found is not None and found.id == "2"


async def test_a_listing_left_early_leaves_nothing_for_the_event_loop_to_close(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    # A look-up stops at the first page that holds its group. Were the pages an async
    # generator, the loop's finalizer would close each one later, in a task of its own.
    finalized: list[object] = []
    firstiter, finalizer = sys.get_asyncgen_hooks()
    assert finalizer is not None

    def counting(generator: Any) -> None:
        finalized.append(generator)
        finalizer(generator)

    sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=counting)
    try:
        found = {"user_groups": [{"id": "2", "name": "Sales"}], "info": {"more_records": True}}
        mocked.get(f"{API}?name=Sales&page=1&per_page=200", payload=found)
        group = await zoho.find("Sales")
        assert group is not None and group.id == "2"
        gc.collect()
    finally:
        sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)
    assert finalized == []


async def test_get_loads_members_from_sources_pages(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    url = f"{API}/42"
    mocked.get(url, payload={"user_groups": [{"id": "42", "name": "g", "sources_count": {}}]})
    for n, more in ((1, True), (2, False)):
        mocked.get(
            f"{url}/sources?page={n}&per_page=200",
            payload={
                "sources": [
                    {
                        "type": "territories",
                        "source": {"id": str(n), "name": "T"},
                        "sub_territories": True,
                    }
                ],
                "info": {"more_records": more},
            },
        )
    group = await zoho.get("42")
    assert group.members == (
        Member(MemberKind.TERRITORY, "1", include_subordinates=True),
        Member(MemberKind.TERRITORY, "2", include_subordinates=True),
    )


def test_wire_keeps_ids_as_strings_offsets_and_unknown_fields() -> None:
    data = {
        "id": "3652397000009949005",
        "name": "g",
        "description": None,
        "created_time": "2022-11-21T12:33:12+05:30",
        "modified_time": None,
        "created_by": {"name": "Patricia Boyle", "id": "3652397000000186017"},
        "sources_count": {"users": {"active": 2}},
    }
    group = group_from_zoho(data)
    assert group.id == "3652397000009949005"
    assert group.created_at is not None
    assert group.created_at.utcoffset() == timezone(timedelta(hours=5, minutes=30)).utcoffset(None)
    assert group.raw["created_by"] == {"name": "Patricia Boyle", "id": "3652397000000186017"}
    assert group.members is None


def test_a_listed_group_reads_into_every_field_of_the_model() -> None:
    data = {
        "id": "3652397000009949005",
        "name": "Sales",
        "description": "EMEA",
        "created_time": "2022-11-21T12:33:12+05:30",
        "modified_time": "2023-01-02T03:04:05-08:00",
    }
    group = group_from_zoho(data)
    expected = Group(
        name="Sales",
        description="EMEA",
        id="3652397000009949005",
        created_at=datetime(
            2022, 11, 21, 12, 33, 12, tzinfo=timezone(timedelta(hours=5, minutes=30))
        ),
        modified_at=datetime(2023, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-8))),
        backend="zoho",
        raw=data,
    )
    # Field by field, by name (raw is left out of ==): the reader builds Group positionally.
    assert attrs.asdict(group, recurse=False) == attrs.asdict(expected, recurse=False)
    assert group.raw is data


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"id": 3652397000009949005, "name": "g"}, r"expected str \| None @ \$\.id$"),
        ({"id": "1"}, r"required field missing @ \$\.name$"),
        ({"name": "g"}, "Zoho sent a group without an id"),
        ({"id": "1", "name": " "}, "cannot represent: name: must not be empty or blank"),
        ({"id": " ", "name": "g"}, "cannot represent: id: must not be empty or blank"),
        (
            {"id": "1", "name": "g", "created_time": "yesterday"},
            r"expected datetime\.datetime \| None @ \$\.created_time$",
        ),
        (
            {"id": "1", "name": "g", "sources": [{"type": "users", "source": {"id": 42}}]},
            r"expected str @ \$\.sources\[0\]\.source\.id$",
        ),
        (
            {"id": "1", "name": "g", "sources": [{"type": "roles", "subordinates": "yes"}]},
            r"required field missing @ \$\.sources\[0\]\.source$",
        ),
        (
            {
                "id": "1",
                "name": "g",
                "sources": [{"type": "roles", "source": {"id": "7"}, "subordinates": "no"}],
            },
            r"expected bool \| None @ \$\.sources\[0\]\.subordinates$",
        ),
        ({"id": "1", "name": "g", "sources": {"users": []}}, r"@ \$\.sources$"),
        (["not", "an", "object"], r"expected an object @ \$$"),
    ],
)
def test_a_malformed_group_is_a_transport_error_naming_the_problem(bad: Any, problem: str) -> None:
    with pytest.raises(TransportError, match=problem) as info:
        group_from_zoho(bad)
    assert info.value.backend == "zoho" and info.value.raw is bad


@pytest.mark.parametrize(
    ("sources", "problem"),
    [
        ([{"type": "teams", "source": {"id": "1"}}], "Zoho sent a member of unknown type 'teams'"),
        ([{"type": "users", "source": {"id": ""}}], "id: must not be empty or blank"),
        (
            [{"type": "users", "source": {"id": "1", "name": 7}}],
            r"str \| None @ \$\[0\]\.source\.name$",
        ),
        ([{"type": "users", "source": {"id": "1"}}, None], r"expected an object @ \$\[1\]$"),
    ],
)
def test_a_malformed_member_page_is_a_transport_error_naming_the_problem(
    sources: Any, problem: str
) -> None:
    with pytest.raises(TransportError, match=problem):
        members_from_answer({"sources": sources})
    with pytest.raises(TransportError, match=problem.replace(r"\$", r"\$\.sources")):
        group_from_zoho({"id": "1", "name": "g", "sources": sources})


def test_subordinates_are_read_for_roles_and_territories_only() -> None:
    page = {
        "sources": [
            {"type": "roles", "source": {"id": "1"}, "subordinates": True},
            {"type": "territories", "source": {"id": "2"}, "sub_territories": True},
            {"type": "territories", "source": {"id": "3"}, "subordinates": False},
            {"type": "users", "source": {"id": "4", "name": "U"}, "subordinates": True},
        ]
    }
    assert [(m.kind, m.id, m.name, m.include_subordinates) for m in members_from_answer(page)] == [
        (MemberKind.ROLE, "1", None, True),
        (MemberKind.TERRITORY, "2", None, True),
        (MemberKind.TERRITORY, "3", None, False),
        (MemberKind.USER, "4", "U", False),
    ]
    assert members_from_answer(None) == []


def test_an_action_entry_of_the_wrong_shape_is_a_transport_error_naming_it() -> None:
    answer = {"user_groups": [{"code": "SUCCESS", "status": 1}]}
    with pytest.raises(TransportError, match=r"expected str @ \$\[0\]\.status$") as info:
        answer_entries(answer, 1)
    assert info.value.raw == answer["user_groups"]


@pytest.mark.parametrize("name", ["zoho-create-request.json", "zoho-update-request.json"])
def test_the_seed_requests_read_back_and_are_written_again_unchanged(name: str) -> None:
    (item,) = seed(name)["user_groups"]
    group = group_from_zoho({**item, "id": "1"})  # read as an answer would carry it
    members = group.members or ()
    removed = [m for m, s in zip(members, item["sources"], strict=True) if s.get("_delete")]
    kept = [m for m in members if m not in removed]
    if removed:  # the update seed: its last source removes a member
        written = group_to_zoho(
            group.name,
            description=group.description,
            sources=changes_to_sources(kept, removed),
        )
    else:
        written = new_group_item(group.name, group.description, members)
    assert written == item


@pytest.mark.parametrize("name", ["zoho-create-response.json", "zoho-update-response.json"])
def test_the_seed_answers_read_back_as_they_were_sent(name: str) -> None:
    answer = seed(name)
    (entry,) = answer_entries(answer, 1)
    assert entry.status == "success" and entry.details["id"].isdigit()
    assert entry_json(entry) == answer["user_groups"][0]


async def test_delete_polls_a_scheduled_deletion_job(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    url = f"{API}/42"
    mocked.delete(
        url,
        payload={
            "user_groups": [
                {
                    "code": "SCHEDULED",
                    "details": {"job_id": "77"},
                    "message": "",
                    "status": "scheduled",
                }
            ]
        },
    )
    jobs = f"{API}/actions/deletion_jobs?job_id=77"
    mocked.get(jobs, payload={"deletion_jobs": [{"id": "77", "Status": "in_progress"}]})
    mocked.get(jobs, payload={"deletion_jobs": [{"id": "77", "Status": "completed"}]})
    zoho.config = zoho.config.__class__(**{**_config_dict(zoho), "delete_job_poll_interval": 0.001})
    await zoho.delete("42")
    assert len(sent(mocked, "GET", jobs)) == 2


async def test_a_deletion_job_check_answering_204_means_the_delete_is_done(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    scheduled = {
        "code": "SCHEDULED",
        "details": {"job_id": "78"},
        "message": "",
        "status": "scheduled",
    }
    mocked.delete(f"{API}/43", payload={"user_groups": [scheduled]})
    jobs = f"{API}/actions/deletion_jobs?job_id=78"
    mocked.get(jobs, status=204)  # the v8 spec: no deletion job pending
    await zoho.delete("43")
    assert len(sent(mocked, "GET", jobs)) == 1


async def test_get_of_one_group_answering_204_is_not_found(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    mocked.get(f"{API}/44", status=204)  # the v8 spec's answer for an unknown group
    with pytest.raises(NotFoundError, match="44") as info:
        await zoho.get("44")
    assert info.value.status == 204
    assert len(sent(mocked, "GET", f"{API}/44")) == 1


async def test_a_listing_that_repeats_its_page_ends_with_a_transport_error(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    lying = {
        "user_groups": [{"id": "1001", "name": "g1"}],
        "info": {"per_page": 200, "count": 1, "page": 1, "more_records": True},
    }
    mocked.get(f"{API}?page=1&per_page=200", payload=lying)
    mocked.get(f"{API}?page=2&per_page=200", payload=lying)  # the same page again
    with pytest.raises(TransportError, match="repeats page 1"):
        _ = [g async for g in zoho.groups()]
    assert len(mocked.requests) == 2


def _config_dict(zoho: ZohoBackend) -> dict[str, Any]:
    return attrs.asdict(zoho.config, recurse=False)


# -- every documented error --------------------------------------------------------------


def wrapped(code: str, details: dict[str, Any], message: str = "m") -> dict[str, Any]:
    return {
        "user_groups": [{"code": code, "details": details, "message": message, "status": "error"}]
    }


def top(code: str, details: dict[str, Any], message: str = "m") -> dict[str, Any]:
    return {"code": code, "details": details, "message": message, "status": "error"}


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            400,
            wrapped("DUPLICATE_DATA", {"api_name": "name", "json_path": "$.user_groups[0].name"}),
            DuplicateGroupError,
            "DUPLICATE_DATA",
        ),
        (
            400,
            wrapped(
                "MANDATORY_NOT_FOUND", {"api_name": "name", "json_path": "$.user_groups[0].name"}
            ),
            InvalidDataError,
            "MANDATORY_NOT_FOUND",
        ),
        (
            400,
            wrapped(
                "INVALID_DATA",
                {"api_name": "id", "json_path": "$.user_groups[0].sources[1].source.id"},
            ),
            InvalidDataError,
            "INVALID_DATA",
        ),
        (
            403,
            top("NO_PERMISSION", {"permissions": ["Crm_Implied_Manage_Groups"]}),
            PermissionDeniedError,
            "NO_PERMISSION",
        ),
        (
            401,
            top("INVALID_TOKEN", {}, "invalid oauth token"),
            AuthenticationError,
            "INVALID_TOKEN",
        ),
        (401, top("AUTHENTICATION_FAILED", {}), AuthenticationError, "AUTHENTICATION_FAILED"),
        (401, top("OAUTH_SCOPE_MISMATCH", {}), PermissionDeniedError, "OAUTH_SCOPE_MISMATCH"),
        (500, top("INTERNAL_SERVER_ERROR", {}), ServerError, "INTERNAL_SERVER_ERROR"),
    ],
)
async def test_create_errors_map_onto_the_tree(
    mocked: aioresponses,
    zoho: ZohoBackend,
    status: int,
    body: dict[str, Any],
    error: type[Exception],
    code: str,
) -> None:
    mocked.post(API, status=status, payload=body)
    with pytest.raises(error) as info:
        await zoho.create(SEED_GROUP)
    assert type(info.value) is error
    assert info.value.code == code  # type: ignore[attr-defined]
    assert info.value.status == status  # type: ignore[attr-defined]
    entry = body["user_groups"][0] if "user_groups" in body else body
    assert info.value.details == entry["details"]  # type: ignore[attr-defined]
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


async def test_update_of_an_unknown_id_is_not_found(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    url = f"{API}/3652397000009949005"
    mocked.put(
        url,
        status=400,
        payload=top("INVALID_DATA", {"resource_path_index": 0}, "the given id seems to be invalid"),
    )
    with pytest.raises(NotFoundError) as info:
        await zoho.update("3652397000009949005", GroupChanges(name="x"))
    assert info.value.details == {"resource_path_index": 0}


async def test_deletion_job_without_id_is_invalid_data(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    mocked.get(
        re.compile(re.escape(API) + r"/actions/deletion_jobs.*"),
        status=400,
        payload=top("REQUIRED_PARAM_MISSING", {"param": "job_id"}),
    )
    with pytest.raises(InvalidDataError) as info:
        await zoho._wait_for_deletion("")
    assert info.value.code == "REQUIRED_PARAM_MISSING"


async def test_429_is_retried_and_then_raised_as_rate_limited(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    mocked.post(
        API,
        status=429,
        payload=top("TOO_MANY_REQUESTS", {}),
        headers={"Retry-After": "3"},
        repeat=True,
    )
    with pytest.raises(RateLimitedError) as info:
        await zoho.create(SEED_GROUP)
    assert info.value.retry_after == 3.0
    assert len(sent(mocked, "POST", API)) == 3  # max_attempts=3: three sends in all


async def test_a_partial_batch_gives_one_outcome_per_group(mocked: aioresponses) -> None:
    backend = open_backend("zoho", dc="eu", access_token=TOKEN, max_batch=3)
    assert isinstance(backend, ZohoBackend) and backend.capabilities.max_batch == 3
    ok = {"code": "SUCCESS", "details": {"id": "11"}, "message": "", "status": "success"}
    dup = wrapped("DUPLICATE_DATA", {"api_name": "name"})["user_groups"][0]
    ok2 = {**ok, "details": {"id": "13"}}

    def answer(url: URL, **kwargs: Any) -> CallbackResult:
        return CallbackResult(status=207, payload={"user_groups": [ok, dup, ok2]})

    mocked.post(API, callback=answer)
    async with backend:
        outcomes = await backend.create_many([Group(name=n) for n in ("a", "b", "c")])
    assert [getattr(o, "id", None) for o in outcomes] == ["11", None, "13"]
    assert isinstance(outcomes[1], DuplicateGroupError)
    (call,) = sent(mocked, "POST", API)
    assert [g["name"] for g in body_of(call)["user_groups"]] == ["a", "b", "c"]
