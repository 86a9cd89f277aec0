"""ZohoBackend as a UserDirectory: the exact requests (``/crm/v8/users``) and what it reads,
with answers in the shapes of zoho/crm-oas ``v8.0/users.json`` and ``v8.0/user_groups.json``."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aioresponses import aioresponses

from unigroups import (
    DecodingError,
    Group,
    NotFoundError,
    User,
    UserDirectory,
    ValidationError,
    open_backend,
)
from unigroups.backends.zoho import ZohoBackend

CRM = "https://www.zohoapis.eu/crm/v8"
USERS = f"{CRM}/users"
TOKEN = "1000.8cb99dxxxxxxxxxxxxx9be93.9b8xxxxxxxxxxxxxxxf"


def zoho_user(user_id: str, name: str, email: str, status: str = "active") -> dict[str, Any]:
    """A ``users[]`` item as the v8 spec's ``users`` schema has it (a few of its fields)."""
    first, last = name.split(" ", 1)
    return {
        "id": user_id,
        "full_name": name,
        "first_name": first,
        "last_name": last,
        "email": email,
        "status": status,
        "confirm": True,
        "role": {"name": "CEO", "id": "3652397000000026005"},
        "profile": {"name": "Administrator", "id": "3652397000000026011"},
        "zuid": "10068256",
        "created_time": "2023-05-04T10:11:12+05:30",
    }


def info(page: int, count: int, more: bool) -> dict[str, Any]:
    return {"per_page": 200, "count": count, "page": page, "more_records": more}


PATRICIA = zoho_user("3652397000000186017", "Patricia Boyle", "Patricia.Boyle@Zylker.com")
DEBORAH = zoho_user("3652397000000281001", "Deborah Gill", "deborah@zylker.com", "disabled")


@pytest.fixture
async def zoho() -> AsyncIterator[ZohoBackend]:
    backend = open_backend("zoho", dc="eu", access_token=TOKEN, max_attempts=1)
    assert isinstance(backend, ZohoBackend)
    async with backend:
        yield backend


def requested(m: aioresponses) -> list[tuple[str, str, dict[str, str]]]:
    """Each request sent: method, URL without its query, and the query (order aside)."""
    return [(method, str(url.with_query(None)), dict(url.query)) for (method, url) in m.requests]


def page_query(page: int, **more: str) -> dict[str, str]:
    return {**more, "page": str(page), "per_page": "200"}


async def test_the_zoho_backend_is_a_user_directory(zoho: ZohoBackend) -> None:
    assert isinstance(zoho, UserDirectory)


async def test_users_asks_for_active_users_page_by_page(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    mocked.get(
        f"{USERS}?type=ActiveUsers&page=1&per_page=200",
        payload={"users": [PATRICIA], "info": info(1, 1, True)},
    )
    mocked.get(
        f"{USERS}?type=ActiveUsers&page=2&per_page=200",
        payload={"users": [zoho_user("3652397000000281002", "Ann Lee", "ann@zylker.com")]},
    )
    iterator = zoho.users()
    first = await iterator.__anext__()
    assert len(mocked.requests) == 1, "the second page was fetched before it was needed"
    assert first == User(
        "3652397000000186017", "Patricia Boyle", "patricia.boyle@zylker.com", True, "zoho"
    )
    assert first.raw == PATRICIA
    assert [u.id async for u in iterator] == ["3652397000000281002"]
    assert requested(mocked) == [
        ("GET", USERS, page_query(1, type="ActiveUsers")),
        ("GET", USERS, page_query(2, type="ActiveUsers")),
    ]
    ((call,), _) = mocked.requests.values()
    assert call.kwargs["headers"]["Authorization"] == f"Zoho-oauthtoken {TOKEN}"


async def test_users_never_yields_an_inactive_user_even_if_zoho_lists_one(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    mocked.get(
        f"{USERS}?type=ActiveUsers&page=1&per_page=200",
        payload={"users": [PATRICIA, DEBORAH], "info": info(1, 2, False)},
    )
    assert [u.id async for u in zoho.users()] == [PATRICIA["id"]]


async def test_users_with_inactive_asks_for_all_users(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    mocked.get(
        f"{USERS}?type=AllUsers&page=1&per_page=200",
        payload={"users": [PATRICIA, DEBORAH], "info": info(1, 2, False)},
    )
    listed = [u async for u in zoho.users(include_inactive=True)]
    assert [(u.id, u.active) for u in listed] == [(PATRICIA["id"], True), (DEBORAH["id"], False)]
    assert requested(mocked) == [("GET", USERS, page_query(1, type="AllUsers"))]


async def test_an_org_without_users_answers_204(mocked: aioresponses, zoho: ZohoBackend) -> None:
    mocked.get(f"{USERS}?type=ActiveUsers&page=1&per_page=200", status=204)
    assert [u async for u in zoho.users()] == []


async def test_get_user_reads_the_single_user(mocked: aioresponses, zoho: ZohoBackend) -> None:
    mocked.get(f"{USERS}/{PATRICIA['id']}", payload={"users": [PATRICIA]})
    user = await zoho.get_user(PATRICIA["id"])
    assert (user.id, user.name, user.email, user.active) == (
        PATRICIA["id"],
        "Patricia Boyle",
        "patricia.boyle@zylker.com",
        True,
    )
    assert requested(mocked) == [("GET", f"{USERS}/{PATRICIA['id']}", {})]


async def test_get_user_answering_204_is_not_found(mocked: aioresponses, zoho: ZohoBackend) -> None:
    mocked.get(f"{USERS}/2147480002", status=204)
    with pytest.raises(NotFoundError) as info_:
        await zoho.get_user("2147480002")
    assert info_.value.status == 204


async def test_get_user_of_an_id_zoho_refuses_in_the_path_is_not_found(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    body = {
        "code": "INVALID_DATA",
        "details": {"resource_path_index": 1},
        "message": "the id given seems to be invalid",
        "status": "error",
    }
    mocked.get(f"{USERS}/2147480002", status=400, payload=body)
    with pytest.raises(NotFoundError):
        await zoho.get_user("2147480002")


@pytest.mark.parametrize("bad", ["../1", "1/2", "", " 1", "12345678901234567890"])
async def test_a_malformed_user_id_is_refused_before_any_request(
    mocked: aioresponses, zoho: ZohoBackend, bad: str
) -> None:
    with pytest.raises(ValidationError) as info_:
        await zoho.get_user(bad)
    assert info_.value.field == "user_id"
    with pytest.raises(ValidationError):
        [g async for g in zoho.user_groups(bad)]
    assert mocked.requests == {}


async def test_user_groups_reads_the_users_associated_groups(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    url = f"{USERS}/{PATRICIA['id']}/actions/associated_groups"
    owner = {"name": "Patricia Boyle", "id": PATRICIA["id"], "email": "p@zylker.com"}
    group = {
        "id": "3652397000002350003",
        "name": "Sales",
        "description": "the sales team",
        "created_time": "2024-05-06T10:11:12+05:30",
        "modified_time": "2024-05-06T10:11:12+05:30",
        "created_by": owner,
        "modified_by": owner,
    }
    mocked.get(
        f"{url}?page=1&per_page=200",
        payload={"user_groups": [group], "info": info(1, 1, True)},
    )
    mocked.get(f"{url}?page=2&per_page=200", status=204)
    listed = [g async for g in zoho.user_groups(PATRICIA["id"])]
    assert listed == [
        Group(
            name="Sales",
            description="the sales team",
            id="3652397000002350003",
            created_at=listed[0].created_at,
            modified_at=listed[0].modified_at,
            backend="zoho",
        )
    ]
    assert listed[0].members is None  # the answer carries no members
    assert str(listed[0].created_at) == "2024-05-06 10:11:12+05:30"
    assert requested(mocked) == [("GET", url, page_query(1)), ("GET", url, page_query(2))]


@pytest.mark.parametrize(
    ("user", "problem"),
    [
        ({"full_name": "x"}, "required field missing @ $.id"),
        ({"id": 3652397000000186017}, "expected str @ $.id"),
        ({"id": "1", "email": ["a@b"]}, "expected str | None @ $.email"),
        ({"id": "1", "status": True}, "expected str | None @ $.status"),
        ({"id": "  "}, "cannot represent"),
    ],
)
async def test_a_malformed_user_is_a_decoding_error_naming_the_problem(
    mocked: aioresponses, zoho: ZohoBackend, user: Any, problem: str
) -> None:
    mocked.get(f"{USERS}/1", payload={"users": [user]})
    with pytest.raises(DecodingError, match=problem.replace("|", r"\|").replace("$", r"\$")):
        await zoho.get_user("1")


async def test_an_answer_without_users_is_a_decoding_error(
    mocked: aioresponses, zoho: ZohoBackend
) -> None:
    mocked.get(f"{USERS}/1", payload={"user_groups": []})
    with pytest.raises(DecodingError):
        await zoho.get_user("1")
    mocked.get(f"{USERS}/1", payload={"users": []})
    with pytest.raises(DecodingError):
        await zoho.get_user("1")
