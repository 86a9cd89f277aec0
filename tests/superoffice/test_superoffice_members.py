"""A SuperOffice group's members: the requests sent (aioresponses) and the state left on the
emulated tenant, including the races, refusals and partial failures of member writes."""

import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aioresponses import aioresponses
from yarl import URL

from unigroups import (
    BackendError,
    Group,
    GroupChanges,
    IncompleteWriteError,
    InvalidDataError,
    Member,
    MemberKind,
    NotFoundError,
    PermissionDeniedError,
    UnsupportedOperationError,
    User,
    UserDirectory,
    ValidationError,
    open_backend,
)
from unigroups.backends.superoffice import SuperOfficeBackend
from unigroups.testing.server import serve
from unigroups.testing.superoffice_emulator import SeedUser, SuperOfficeEmulator

from .test_superoffice_wire import BASE, ITEMS, basic

USERS = f"{BASE}/User"
ANY_USERS_LISTING = re.compile(rf"{re.escape(USERS)}\?.*")
SELECT = "associateDbId,assocName,fullName,userName,personEmail,usergroupId,isActive"


def user(n: int) -> Member:
    return Member(MemberKind.USER, str(n))


def carrier(group_id: int, name: str = "Sales") -> dict[str, Any]:
    return {"Value": name, "Tooltip": "", "Id": group_id, "Rank": 0, "Deleted": False}


def entity(user_id: int, primary: int, others: list[int]) -> dict[str, Any]:
    return {
        "AssociateId": user_id,
        "Name": f"U{user_id}",
        "UserName": f"u{user_id}",
        "Deleted": False,
        "Person": {"PersonId": 9, "FullName": f"User {user_id}", "Email": f"U{user_id}@X.COM"},
        "UserGroup": carrier(primary, "Everyone"),
        "OtherGroups": [carrier(g, f"G{g}") for g in others],
    }


def row(user_id: int, primary: int) -> dict[str, Any]:
    return {
        "PrimaryKey": user_id,
        "EntityName": "associate",
        "associateDbId": user_id,
        "assocName": f"U{user_id}",
        "fullName": f"User {user_id}",
        "userName": f"u{user_id}@example.com",
        "personEmail": "",
        "usergroupId": primary,
        "isActive": True,
    }


def sent(m: aioresponses, method: str) -> list[tuple[URL, Any]]:
    """Every ``method`` request sent, in order: its URL (query included) and JSON body."""
    found = []
    for (verb, url), calls in m.requests.items():
        if verb == method:
            found += [
                (url, json.loads(c.kwargs["data"]) if c.kwargs.get("data") else None) for c in calls
            ]
    return found


# -- the requests sent -----------------------------------------------------------------------


async def test_members_pages_get_user_with_select_filter_top_and_skip(mocked: aioresponses) -> None:
    first = [row(7, 5), row(8, 1)]
    mocked.get(ANY_USERS_LISTING, payload={"odata.nextLink": "next", "value": first})
    mocked.get(ANY_USERS_LISTING, payload={"value": [row(9, 1)]})
    async with basic(user_page_size=2) as backend:
        members = [m async for m in backend.members("5")]
    assert members == [user(7), user(8), user(9)]
    assert [m.primary for m in members] == [True, False, False]
    assert [m.name for m in members] == ["User 7", "User 8", "User 9"]
    queries = [url.query for url, _ in sent(mocked, "GET")]
    filter_ = "usergroupId eq 5 or otherGroups in (5)"
    assert queries == [
        {"$select": SELECT, "$filter": filter_, "$top": "2", "$skip": "0"},
        {"$select": SELECT, "$filter": filter_, "$top": "2", "$skip": "2"},
    ]


async def test_adding_sends_one_json_patch_add_per_user(mocked: aioresponses) -> None:
    mocked.get(f"{ITEMS}/5", payload=carrier(5))
    mocked.get(f"{USERS}/7", payload=entity(7, 1, [3]))
    mocked.get(f"{USERS}/8", payload=entity(8, 5, []))  # already a member: its primary group
    mocked.patch(f"{USERS}/7", payload=entity(7, 1, [3, 5]))
    mocked.get(ANY_USERS_LISTING, payload={"value": [row(7, 1), row(8, 5)]})
    async with basic() as backend:
        group = await backend.update("5", GroupChanges(add=[user(7), user(8)]))
    assert sent(mocked, "PATCH") == [
        (URL(f"{USERS}/7"), [{"op": "add", "path": "/OtherGroups/-", "value": {"Id": 5}}])
    ]
    assert set(group.members or ()) == {user(7), user(8)}
    assert sent(mocked, "PUT") == []  # no field of the group itself changed


async def test_removing_tests_the_entry_it_removes(mocked: aioresponses) -> None:
    mocked.get(f"{ITEMS}/5", payload=carrier(5))
    mocked.get(f"{USERS}/7", payload=entity(7, 1, [3, 5, 4]))
    mocked.patch(f"{USERS}/7", payload=entity(7, 1, [3, 4]))
    mocked.get(ANY_USERS_LISTING, payload={"value": []})
    async with basic() as backend:
        group = await backend.update("5", GroupChanges(remove=[user(7)]))
    assert sent(mocked, "PATCH") == [
        (
            URL(f"{USERS}/7"),
            [
                {"op": "test", "path": "/OtherGroups/1/Id", "value": 5},
                {"op": "remove", "path": "/OtherGroups/1"},
            ],
        )
    ]
    assert group.members == ()


async def test_a_failed_test_reads_the_user_again_and_removes_at_the_new_index(
    mocked: aioresponses,
) -> None:
    mocked.get(f"{ITEMS}/5", payload=carrier(5))
    mocked.get(f"{USERS}/7", payload=entity(7, 1, [5]))
    conflict = {"Message": "Update blocked because a 'test' operation detected a conflict."}
    mocked.patch(f"{USERS}/7", status=409, payload=conflict)
    mocked.get(f"{USERS}/7", payload=entity(7, 1, [2, 5]))  # someone added group 2 first
    mocked.patch(f"{USERS}/7", payload=entity(7, 1, [2]))
    mocked.get(ANY_USERS_LISTING, payload={"value": []})
    async with basic() as backend:
        await backend.update("5", GroupChanges(remove=[user(7)]))
    bodies = [body for _, body in sent(mocked, "PATCH")]
    assert [op["path"] for op in bodies[0]] == ["/OtherGroups/0/Id", "/OtherGroups/0"]
    assert [op["path"] for op in bodies[1]] == ["/OtherGroups/1/Id", "/OtherGroups/1"]
    assert all(body[0] == {"op": "test", "path": body[0]["path"], "value": 5} for body in bodies)


async def test_a_user_that_keeps_changing_ends_in_a_bounded_error(mocked: aioresponses) -> None:
    mocked.get(f"{ITEMS}/5", payload=carrier(5))
    mocked.get(f"{USERS}/7", payload=entity(7, 1, [5]), repeat=True)
    mocked.patch(f"{USERS}/7", status=409, payload={"Message": "conflict"}, repeat=True)
    async with basic() as backend:
        with pytest.raises(BackendError) as info:
            await backend.update("5", GroupChanges(remove=[user(7)]))
    assert info.value.status == 409
    assert "kept changing" in str(info.value) and "7" in str(info.value)
    assert len(sent(mocked, "PATCH")) == 5


async def test_wrong_kinds_and_primary_members_are_refused_before_sending(
    mocked: aioresponses,
) -> None:
    async with basic() as backend:
        for kind in (MemberKind.ROLE, MemberKind.GROUP, MemberKind.TERRITORY):
            with pytest.raises(ValidationError) as info:
                await backend.update("5", GroupChanges(add=[Member(kind, "3")]))
            assert info.value.field == "members"
            assert isinstance(info.value, UnsupportedOperationError)
            with pytest.raises(ValidationError):
                await backend.create(Group(name="g", members=[Member(kind, "3")]))
        primary = Member(MemberKind.USER, "7", primary=True)
        with pytest.raises(UnsupportedOperationError, match=r"user 7 .*primary group"):
            await backend.update("5", GroupChanges(remove=[primary]))
    assert mocked.requests == {}


async def test_a_403_on_users_says_user_management_is_not_allowed(mocked: aioresponses) -> None:
    denied = {"Message": "Access denied", "ExceptionType": "SoAccessDeniedException"}
    mocked.get(ANY_USERS_LISTING, status=403, payload=denied)
    async with basic() as backend:
        with pytest.raises(PermissionDeniedError) as info:
            [m async for m in backend.members("5")]
    assert info.value.status == 403
    assert "user management is not allowed" in str(info.value)
    assert "Access denied" in str(info.value)


# -- against the emulator: the state left on the tenant --------------------------------------

PEOPLE = [SeedUser(f"Person {n}", f"Person{n}@Example.com") for n in range(1, 7)]


@pytest.fixture
def superoffice_emulator() -> SuperOfficeEmulator:
    return SuperOfficeEmulator(associates=PEOPLE)


@pytest.fixture
async def office(superoffice_url: str) -> AsyncIterator[SuperOfficeBackend]:
    backend = open_backend(
        "superoffice", base_url=superoffice_url, username="test-user", password="test-password"
    )
    assert isinstance(backend, SuperOfficeBackend)
    async with backend:
        yield backend


@contextlib.asynccontextmanager
async def backend_on(
    emulator: SuperOfficeEmulator, *middlewares: Any
) -> AsyncIterator[SuperOfficeBackend]:
    """A backend on ``emulator``'s app, served with test ``middlewares`` innermost."""
    app = emulator.make_app()
    app.middlewares.extend(middlewares)
    async with serve(app) as server:
        backend = open_backend(
            "superoffice",
            base_url=emulator.api_url(server),
            username="test-user",
            password="test-password",
        )
        assert isinstance(backend, SuperOfficeBackend)
        async with backend:
            yield backend


async def test_create_with_members_adds_each_user(
    superoffice_emulator: SuperOfficeEmulator, office: SuperOfficeBackend
) -> None:
    created = await office.create(Group(name="Sales", members=[user(101), user(102)]))
    assert created.id is not None
    group_id = int(created.id)
    assert superoffice_emulator.members_of(group_id) == {101: False, 102: False}
    assert superoffice_emulator.directory[101].other_groups == [group_id]
    fetched = await office.get(created.id)
    assert set(fetched.members or ()) == {user(101), user(102)}


async def test_members_are_primary_and_other_group_users_paged(
    superoffice_emulator: SuperOfficeEmulator, superoffice_url: str
) -> None:
    support = superoffice_emulator.seed_group("Support")
    for n in range(5):
        superoffice_emulator.add_user(f"Primary {n}", primary_group=support)
    superoffice_emulator.set_other_groups(103, [support])
    async with open_backend(
        "superoffice",
        base_url=superoffice_url,
        username="test-user",
        password="test-password",
        user_page_size=2,
    ) as backend:
        members = [m async for m in backend.members(str(support))]
    expected = superoffice_emulator.members_of(support)
    assert {int(m.id): m.primary for m in members} == expected
    assert len(expected) == 6 and expected[103] is False
    listings = [r for r in superoffice_emulator.requests if r.path.endswith("/User")]
    assert len(listings) == 3  # 6 members, 2 a page


async def test_update_adds_and_removes_on_the_tenant(
    superoffice_emulator: SuperOfficeEmulator, office: SuperOfficeBackend
) -> None:
    group_id = superoffice_emulator.seed_group("Sales")
    other = superoffice_emulator.seed_group("Other")
    superoffice_emulator.set_other_groups(101, [other, group_id, other])
    updated = await office.update(
        str(group_id), GroupChanges(add=[user(102), user(103)], remove=[user(101)])
    )
    assert set(updated.members or ()) == {user(102), user(103)}
    assert superoffice_emulator.directory[101].other_groups == [other, other]
    assert superoffice_emulator.members_of(group_id) == {102: False, 103: False}


async def test_a_concurrent_change_is_retried_and_never_removes_another_group(
    superoffice_emulator: SuperOfficeEmulator,
) -> None:
    sales = superoffice_emulator.seed_group("Sales")
    racing = superoffice_emulator.seed_group("Racing")
    superoffice_emulator.set_other_groups(101, [sales])
    raced = []

    @web.middleware
    async def race(request: web.Request, handler: Callable[..., Awaitable[Any]]) -> Any:
        # Just before the first PATCH lands, another client puts a group in front.
        if request.method == "PATCH" and not raced:
            raced.append(request.path)
            superoffice_emulator.set_other_groups(101, [racing, sales])
        return await handler(request)

    async with backend_on(superoffice_emulator, race) as backend:
        await backend.update(str(sales), GroupChanges(remove=[user(101)]))
    assert raced
    assert superoffice_emulator.directory[101].other_groups == [racing]
    patches = [r.json for r in superoffice_emulator.requests if r.method == "PATCH"]
    # The first PATCH tested index 0, which by then held "Racing": 409, nothing removed.
    assert [p[0]["path"] for p in patches] == ["/OtherGroups/0/Id", "/OtherGroups/1/Id"]
    assert superoffice_emulator.stats.statuses[409] == 1


async def test_removing_a_user_from_its_primary_group_writes_nothing(
    superoffice_emulator: SuperOfficeEmulator, office: SuperOfficeBackend
) -> None:
    default = superoffice_emulator.directory[101].primary_group
    with pytest.raises(UnsupportedOperationError, match=r"user 101 .*primary group"):
        await office.update(
            str(default),
            GroupChanges(description="after", add=[user(102)], remove=[user(101)]),
        )
    assert superoffice_emulator.members_of(default)[101] is True
    assert superoffice_emulator.directory[102].other_groups == []
    assert superoffice_emulator.groups[default].tooltip == ""
    assert not [r for r in superoffice_emulator.requests if r.method in ("PUT", "PATCH")]


async def test_an_unknown_user_is_not_found_and_nothing_is_written(
    superoffice_emulator: SuperOfficeEmulator, office: SuperOfficeBackend
) -> None:
    group_id = superoffice_emulator.seed_group("Sales")
    with pytest.raises(NotFoundError, match="no SuperOffice user has the id 999"):
        await office.update(str(group_id), GroupChanges(name="New", add=[user(101), user(999)]))
    with pytest.raises(NotFoundError, match="999"):
        await office.create(Group(name="Support", members=[user(999)]))
    assert superoffice_emulator.members_of(group_id) == {}
    assert [g.value for g in superoffice_emulator.groups.values()] == ["Users", "Sales"]
    assert not [r for r in superoffice_emulator.requests if r.method in ("POST", "PUT", "PATCH")]


def refuse_patches_to(user_id: int) -> Any:
    @web.middleware
    async def refuse(request: web.Request, handler: Callable[..., Awaitable[Any]]) -> Any:
        if request.method == "PATCH" and request.path.endswith(f"/User/{user_id}"):
            return web.json_response({"Message": "This user is locked."}, status=400)
        return await handler(request)

    return refuse


@pytest.mark.parametrize("with_field_change", [False, True])
async def test_a_partial_failure_is_an_incomplete_write(
    superoffice_emulator: SuperOfficeEmulator, with_field_change: bool
) -> None:
    group_id = superoffice_emulator.seed_group("Sales")
    changes = GroupChanges(add=[user(101), user(102), user(103)])
    if with_field_change:
        changes = GroupChanges(name="Sales EU", add=[user(102)])
    async with backend_on(superoffice_emulator, refuse_patches_to(102)) as backend:
        with pytest.raises(IncompleteWriteError) as info:
            await backend.update(str(group_id), changes)
        assert info.value.group_id == str(group_id)
        assert "This user is locked" in str(info.value.__cause__)
        with pytest.raises(IncompleteWriteError) as created:
            await backend.create(Group(name="Support", members=[user(102)]))
    if with_field_change:
        assert superoffice_emulator.groups[group_id].value == "Sales EU"
        assert superoffice_emulator.members_of(group_id) == {}
    else:
        assert superoffice_emulator.members_of(group_id) == {101: False, 103: False}
    support = next(g.id for g in superoffice_emulator.groups.values() if g.value == "Support")
    assert created.value.group_id == str(support)


async def test_a_user_gone_between_read_and_write_is_named(
    superoffice_emulator: SuperOfficeEmulator,
) -> None:
    group_id = superoffice_emulator.seed_group("Sales")

    @web.middleware
    async def gone(request: web.Request, handler: Callable[..., Awaitable[Any]]) -> Any:
        if request.method == "PATCH" and request.path.endswith("/User/102"):
            return web.Response(status=404, text="Not Found.")
        return await handler(request)

    async with backend_on(superoffice_emulator, gone) as backend:
        with pytest.raises(IncompleteWriteError) as info:
            await backend.update(str(group_id), GroupChanges(add=[user(101), user(102)]))
        assert isinstance(info.value.__cause__, NotFoundError)
        assert "no SuperOffice user has the id 102" in str(info.value)
        with pytest.raises(NotFoundError, match="no SuperOffice user has the id 102"):
            await backend.update(str(group_id), GroupChanges(add=[user(102)]))
    assert superoffice_emulator.members_of(group_id) == {101: False}


async def test_a_refused_write_with_nothing_else_written_is_that_error(
    superoffice_emulator: SuperOfficeEmulator,
) -> None:
    group_id = superoffice_emulator.seed_group("Sales")
    async with backend_on(superoffice_emulator, refuse_patches_to(102)) as backend:
        with pytest.raises(InvalidDataError) as info:
            await backend.update(str(group_id), GroupChanges(add=[user(102)]))
    assert not isinstance(info.value, IncompleteWriteError)
    assert "This user is locked" in str(info.value)


async def test_a_tenant_without_user_management_answers_permission_denied(
    superoffice_url: str, superoffice_emulator: SuperOfficeEmulator
) -> None:
    superoffice_emulator.user_management = False
    group_id = superoffice_emulator.seed_group("Sales")
    async with open_backend(
        "superoffice", base_url=superoffice_url, access_token="test-token"
    ) as backend:
        with pytest.raises(PermissionDeniedError, match="user management is not allowed"):
            await backend.get(str(group_id))
        with pytest.raises(PermissionDeniedError, match="user management is not allowed"):
            await backend.update(str(group_id), GroupChanges(add=[user(101)]))
        with pytest.raises(PermissionDeniedError, match="User agent is not available"):
            [u async for u in backend.users()]
    assert superoffice_emulator.members_of(group_id) == {}
    # Such a tenant's groups are still managed, without their members, when asked to.
    async with open_backend(
        "superoffice", base_url=superoffice_url, access_token="test-token", user_management=False
    ) as backend:
        assert backend.capabilities.member_kinds == frozenset()
        renamed = await backend.update(str(group_id), GroupChanges(name="Sales EU"))
        assert (renamed.name, renamed.members) == ("Sales EU", ())
        assert (await backend.get(str(group_id))).members == ()
        with pytest.raises(UnsupportedOperationError):
            await backend.update(str(group_id), GroupChanges(add=[user(101)]))
        with pytest.raises(UnsupportedOperationError):
            [m async for m in backend.members(str(group_id))]
    assert superoffice_emulator.groups[group_id].value == "Sales EU"
    assert not [
        r for r in superoffice_emulator.requests if "/User/" in r.path and r.method != "GET"
    ]


# -- the user directory ----------------------------------------------------------------------


async def test_the_directory_reads_users_by_row_and_by_entity_alike(
    superoffice_emulator: SuperOfficeEmulator, office: SuperOfficeBackend
) -> None:
    assert isinstance(office, UserDirectory)
    retired = superoffice_emulator.add_user("Gone Person", "gone@example.com", active=False)
    listed = [u async for u in office.users()]
    assert [u.id for u in listed] == [str(n) for n in range(101, 107)]
    assert listed[0] == User("101", "Person 1", "person1@example.com", True, "superoffice")
    everyone = [u async for u in office.users(include_inactive=True)]
    gone = User(str(retired), "Gone Person", "gone@example.com", False, "superoffice")
    assert everyone[-1] == gone and gone not in listed
    for one in everyone:
        assert await office.get_user(one.id) == one
    with pytest.raises(NotFoundError, match="no SuperOffice user has the id 4242"):
        await office.get_user("4242")


async def test_user_groups_lists_the_primary_group_then_the_others(
    superoffice_emulator: SuperOfficeEmulator, office: SuperOfficeBackend
) -> None:
    sales, support = (superoffice_emulator.seed_group(n) for n in ("Sales", "Support"))
    superoffice_emulator.set_other_groups(101, [support, sales])
    groups = [g async for g in office.user_groups("101")]
    assert [g.name for g in groups] == ["Users", "Support", "Sales"]
    assert all(g.members is None for g in groups)
