"""Zoho's official Python SDK (``zohocrmsdk8_0``) as a client of the Zoho emulator.

Every user-group operation the SDK has, and its users calls, go over real HTTP to the
emulator on loopback; each answer must parse into the SDK's own models with the right
values.  When the SDK and the emulator disagree, the emulator is wrong.  The SDK comes with
the ``test`` extra and is imported unconditionally: this module is never skipped.

The SDK is pointed at the emulator with a custom ``DataCenter.Environment`` and an
in-memory token store holding a ready access token, so it never calls Zoho's accounts
server (``find_user=False`` also skips its "who am I" call).  The SDK cannot send
``_delete`` (its ``Sources`` model has no such field): the project's own client tests cover
the seed's ``_delete`` body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store.token_store import TokenStore
from zohocrmsdk.src.com.zoho.api.logger import Logger
from zohocrmsdk.src.com.zoho.crm.api import ParameterMap
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
from zohocrmsdk.src.com.zoho.crm.api.user_groups import (
    APIException,
    AssociatedUserCount,
    AssociationWrapper,
    BodyWrapper,
    Criteria,
    Field,
    GroupedCountWrapper,
    Groups,
    ResponseWrapper,
    Source,
    Sources,
    SourcesCountWrapper,
    SourcesWrapper,
    SuccessResponse,
)
from zohocrmsdk.src.com.zoho.crm.api.user_groups.user_groups_operations import (
    GetAssociatedUsersCountParam,
    GetAssociateGroupsOfUserParam,
    GetGroupedCountsParam,
    GetGroupsParam,
    GetSourcesParam,
    UserGroupsOperations,
)
from zohocrmsdk.src.com.zoho.crm.api.users import (
    AssociatedGroupsWrapper,
    UsersOperations,
)
from zohocrmsdk.src.com.zoho.crm.api.users import ResponseWrapper as UsersWrapper
from zohocrmsdk.src.com.zoho.crm.api.users.users_operations import GetUsersParam
from zohocrmsdk.src.com.zoho.crm.api.util import Choice

from unigroups.testing.server import ThreadedServer
from unigroups.testing.zoho_emulator import FIRST_ID, ZohoEmulator

PATRICIA = 3652397000000186017  # the seeds' users, role and territory; the SDK's ids are ints
DEBORAH = 3652397000000281001
RUTH = 3652397000000281033  # a deactivated user of the emulator's directory
MANAGER = 3652397000000026008
NEW_YORK = 3652397000007622003


class MemoryStore(TokenStore):  # type: ignore[misc]
    """A token store that keeps nothing on disk; the given token is used as it is."""

    def __init__(self) -> None:
        self.tokens: list[Any] = []

    def find_token(self, token: Any) -> Any:
        # The token saved for the same access token (once the SDK has keyed it by user).
        wanted = token.get_access_token()
        return next((t for t in self.tokens if t.get_access_token() == wanted), None)

    def save_token(self, token: Any) -> None:
        self.tokens.append(token)

    def delete_token(self, id: Any) -> None:
        pass

    def get_tokens(self) -> list[Any]:
        return list(self.tokens)

    def delete_tokens(self) -> None:
        self.tokens.clear()

    def find_token_by_id(self, id: Any) -> Any:
        return None


def use_sdk(base: str, tmp: Path, token: str = "test-token", *, find_user: bool = False) -> None:
    """Initialise the SDK's (thread-local) state against the emulator at ``base``."""
    environment = DataCenter.Environment(base, base + "/oauth/v2/token", base)
    Initializer.initialize(
        environment=environment,
        token=OAuthToken(access_token=token, find_user=find_user),
        store=MemoryStore(),
        sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=True),
        resource_path=str(tmp),
        logger=Logger.get_instance(Logger.Levels.INFO, str(tmp / "sdk.log")),
    )


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[ZohoEmulator]:
    """A fresh emulator served from a thread, with the SDK pointed at it."""
    zoho = ZohoEmulator()
    with ThreadedServer(zoho.make_app) as base:
        use_sdk(base, tmp_path)
        yield zoho


def value(choice: Any) -> Any:
    return choice.get_value() if isinstance(choice, Choice) else choice


def member(kind: str, member_id: int, **flags: bool) -> Sources:
    item = Sources()
    item.set_type(Choice(kind))
    source = Source()
    source.set_id(member_id)
    item.set_source(source)
    if "subordinates" in flags:
        item.set_subordinates(flags["subordinates"])
    if "sub_territories" in flags:
        item.set_sub_territories(flags["sub_territories"])
    return item


def group(
    name: str, *members: Sources, description: str | None = None, id: int | None = None
) -> Groups:
    body = Groups()
    body.set_name(name)
    if description is not None:
        body.set_description(description)
    if id is not None:
        body.set_id(id)
    body.set_sources(list(members))
    return body


def wrap(*groups: Groups) -> BodyWrapper:
    body = BodyWrapper()
    body.set_user_groups(list(groups))
    return body


def params(cls: Any, **values: Any) -> ParameterMap:
    found = ParameterMap()
    for key, item in values.items():
        found.add(getattr(cls, key), item)
    return found


def ok_entries(response: Any, status: int) -> list[SuccessResponse]:
    assert response is not None, "the SDK could not parse the answer"
    assert response.get_status_code() == status
    entries = response.get_object().get_user_groups()
    assert all(isinstance(entry, SuccessResponse) for entry in entries), entries
    assert all(value(entry.get_status()) == "success" for entry in entries)
    return list(entries)


def create(ops: UserGroupsOperations, *groups: Groups) -> list[int]:
    entries = ok_entries(ops.create_groups(wrap(*groups)), 201)
    assert [value(entry.get_code()) for entry in entries] == ["SUCCESS"] * len(groups)
    return [entry.get_details()["id"] for entry in entries]


def full_group(name: str = "test group") -> Groups:
    """The seed's create: two users, a role with subordinates, a territory with children."""
    return group(
        name,
        member("users", PATRICIA),
        member("roles", MANAGER, subordinates=True),
        member("territories", NEW_YORK, subordinates=True, sub_territories=True),
        member("users", DEBORAH),
        description="my group",
    )


def test_create_then_get_one_parses_every_field(emulator: ZohoEmulator) -> None:
    ops = UserGroupsOperations()
    (group_id,) = create(ops, full_group())
    assert group_id == FIRST_ID or str(group_id) in emulator.groups
    # The SDK sent the ids as JSON numbers; the emulator stored them as Zoho's strings.
    sent = emulator.requests[-1].json
    assert sent["user_groups"][0]["sources"][0]["source"] == {"id": PATRICIA}

    response = ops.get_group(group_id)
    assert response.get_status_code() == 200
    wrapper = response.get_object()
    assert isinstance(wrapper, ResponseWrapper)
    (found,) = wrapper.get_user_groups()
    assert (found.get_id(), found.get_name(), found.get_description()) == (
        group_id,
        "test group",
        "my group",
    )
    creator = found.get_created_by()
    assert (creator.get_id(), creator.get_name()) == (PATRICIA, "Patricia Boyle")
    assert found.get_created_time() is not None and found.get_created_time().tzinfo is not None
    counts = found.get_sources_count()
    assert (counts.get_roles(), counts.get_territories(), counts.get_groups()) == (1, 1, 0)
    users = counts.get_users()
    assert (users.get_active(), users.get_inactive(), users.get_deleted()) == (2, 0, 0)


def test_sources_filters_and_paging(emulator: ZohoEmulator) -> None:
    ops = UserGroupsOperations()
    (group_id,) = create(ops, full_group())
    ops.update_group(group_id, wrap(group("test group", member("users", RUTH))))

    response = ops.get_sources(group_id)
    assert response.get_status_code() == 200
    wrapper = response.get_object()
    assert isinstance(wrapper, SourcesWrapper)
    shown = [
        (
            value(item.get_type()),
            item.get_source().get_id(),
            item.get_source().get_name(),
            item.get_subordinates(),
            item.get_sub_territories(),
        )
        for item in wrapper.get_sources()
    ]
    assert shown == [
        ("users", PATRICIA, "Patricia Boyle", False, False),
        ("roles", MANAGER, "Manager", True, False),
        ("territories", NEW_YORK, "New York", True, True),
        ("users", DEBORAH, "Deborah Gill", False, False),
        ("users", RUTH, "Ruth Ellis", False, False),
    ]
    info = wrapper.get_info()
    assert (info.get_count(), info.get_page(), info.get_more_records()) == (5, 1, False)

    only = ops.get_sources(group_id, params(GetSourcesParam, type="territories")).get_object()
    assert [item.get_source().get_id() for item in only.get_sources()] == [NEW_YORK]

    inactive = params(GetSourcesParam, type="users", user_type="inactive")
    found = ops.get_sources(group_id, inactive).get_object()
    assert [item.get_source().get_name() for item in found.get_sources()] == ["Ruth Ellis"]
    active = params(GetSourcesParam, type="users", user_type="active")
    found = ops.get_sources(group_id, active).get_object()
    assert [item.get_source().get_id() for item in found.get_sources()] == [PATRICIA, DEBORAH]
    assert ops.get_sources(group_id, params(GetSourcesParam, user_type="deleted")).get_object()

    page = params(GetSourcesParam, page="2", per_page="2")
    found = ops.get_sources(group_id, page).get_object()
    assert [item.get_source().get_id() for item in found.get_sources()] == [NEW_YORK, DEBORAH]
    info = found.get_info()
    assert (info.get_per_page(), info.get_count(), info.get_page()) == (2, 2, 2)
    assert info.get_more_records() is True
    past = ops.get_sources(group_id, params(GetSourcesParam, page="4", per_page="2"))
    assert (past.get_status_code(), past.get_object()) == (204, None)

    bad = ops.get_sources(group_id, params(GetSourcesParam, type="people"))
    assert bad.get_status_code() == 400
    assert isinstance(bad.get_object(), APIException)

    response = ops.get_sources_count(group_id)
    assert response.get_status_code() == 200
    wrapper = response.get_object()
    assert isinstance(wrapper, SourcesCountWrapper)
    (counts,) = wrapper.get_sources_count()
    assert (counts.get_roles(), counts.get_territories(), counts.get_groups()) == (1, 1, 0)
    users = counts.get_users()
    assert (users.get_active(), users.get_inactive(), users.get_deleted()) == (2, 1, 0)


def test_update_one_and_many_with_members(emulator: ZohoEmulator) -> None:
    ops = UserGroupsOperations()
    first, second = create(ops, group("first"), group("second", member("users", PATRICIA)))

    update = group(
        "first renamed",
        member("users", DEBORAH),
        member("roles", MANAGER, subordinates=False),
        description="changed",
    )
    (entry,) = ok_entries(ops.update_group(first, wrap(update)), 200)
    assert (value(entry.get_code()), entry.get_details()) == ("SUCCESS", {"id": first})
    stored = emulator.groups[str(first)]
    assert (stored.name, stored.description) == ("first renamed", "changed")
    assert [m["source"] for m in stored.sources] == [
        {"id": str(DEBORAH), "name": "Deborah Gill"},
        {"id": str(MANAGER), "name": "Manager"},
    ]

    many = wrap(
        group("first again", member("roles", MANAGER, subordinates=True), id=first),
        group("second", member("territories", NEW_YORK), id=second),
    )
    entries = ok_entries(ops.update_groups(many), 200)
    assert [entry.get_details()["id"] for entry in entries] == [first, second]
    assert emulator.groups[str(first)].members[("roles", str(MANAGER))].subordinates is True
    assert ("territories", str(NEW_YORK)) in emulator.groups[str(second)].members


def test_get_all_across_pages_with_include_name_and_filters(emulator: ZohoEmulator) -> None:
    for n in range(250):
        emulator.seed_group(
            f"group {n:03d}", sources=[{"type": "users", "source": {"id": str(PATRICIA)}}]
        )
    ops = UserGroupsOperations()
    names: list[str] = []
    page = 1
    while True:
        response = ops.get_groups(params(GetGroupsParam, page=str(page), per_page="200"))
        if response.get_status_code() == 204:
            break
        wrapper = response.get_object()
        assert isinstance(wrapper, ResponseWrapper)
        names += [found.get_name() for found in wrapper.get_user_groups()]
        info = wrapper.get_info()
        assert (info.get_page(), info.get_per_page()) == (page, 200)
        if not info.get_more_records():
            assert info.get_count() == 50
            break
        page += 1
    assert names == [f"group {n:03d}" for n in range(250)]
    assert page == 2

    counted = ops.get_groups(params(GetGroupsParam, include="sources_count", per_page="1"))
    (found,) = counted.get_object().get_user_groups()
    assert found.get_sources_count().get_users().get_active() == 1

    named = ops.get_groups(params(GetGroupsParam, name="group 007")).get_object()
    assert [found.get_name() for found in named.get_user_groups()] == ["group 007"]

    criteria = Criteria()
    field = Field()
    field.set_api_name("name")
    criteria.set_field(field)
    criteria.set_comparator("starts_with")
    criteria.set_value("group 24")
    filtered = ops.get_groups(params(GetGroupsParam, filters=criteria)).get_object()
    assert [found.get_name() for found in filtered.get_user_groups()] == [
        f"group {n}" for n in range(240, 250)
    ]


def test_delete_immediate_and_scheduled(emulator: ZohoEmulator) -> None:
    ops = UserGroupsOperations()
    now, later = create(ops, group("now"), group("later"))
    (entry,) = ok_entries(ops.delete_group(now), 200)
    assert (value(entry.get_code()), entry.get_details()) == ("SUCCESS", {"id": now})
    assert str(now) not in emulator.groups

    emulator.schedule_deletes = True
    (entry,) = ok_entries(ops.delete_group(later), 200)
    assert value(entry.get_code()) == "SCHEDULED"
    job_id = entry.get_details()["job_id"]
    assert str(job_id).isdigit()
    assert str(later) in emulator.groups  # until the job is done
    emulator.finish_deletion_jobs()
    assert (ops.get_group(later).get_status_code(), ops.get_group(later).get_object()) == (
        204,
        None,
    )


def test_associations_and_counts(emulator: ZohoEmulator) -> None:
    ops = UserGroupsOperations()
    used, unused = create(ops, full_group("used"), group("unused", member("roles", MANAGER)))
    nothing = ops.get_associations(unused)
    assert (nothing.get_status_code(), nothing.get_object()) == (204, None)
    emulator.associations[str(used)] = [
        {
            "type": "sharing_rule",
            "resource": {"id": "3652397000012345001", "name": "Leads to sales"},
            "detail": {"module": {"api_name": "Leads", "id": "3652397000000002175"}},
        }
    ]
    response = ops.get_associations(used)
    assert response.get_status_code() == 200
    wrapper = response.get_object()
    assert isinstance(wrapper, AssociationWrapper)
    (association,) = wrapper.get_associations()
    assert association.get_type() == "sharing_rule"
    resource = association.get_resource()
    assert (resource.get_id(), resource.get_name()) == (3652397000012345001, "Leads to sales")
    assert association.get_detail().get_module().get_api_name() == "Leads"

    response = ops.get_associated_users_count(params(GetAssociatedUsersCountParam, per_page="1"))
    assert response.get_status_code() == 200
    wrapper = response.get_object()
    assert isinstance(wrapper, AssociatedUserCount)
    (first,) = wrapper.get_associated_users_count()
    assert (first.get_user_group().get_id(), first.get_user_group().get_name()) == (used, "used")
    assert first.get_count() == 2
    assert wrapper.get_info().get_more_records() is True
    page = params(GetAssociatedUsersCountParam, page="2", per_page="1")
    (second,) = ops.get_associated_users_count(page).get_object().get_associated_users_count()
    assert (second.get_user_group().get_name(), second.get_count()) == ("unused", 0)

    response = ops.get_grouped_counts(used, params(GetGroupedCountsParam, group_by="status"))
    assert response.get_status_code() == 200
    wrapper = response.get_object()
    assert isinstance(wrapper, GroupedCountWrapper)
    counts = {value(item.get_status()): item.get_count() for item in wrapper.get_grouped_counts()}
    assert counts == {"active": 2}


def test_groups_of_a_user_from_both_operations_classes(emulator: ZohoEmulator) -> None:
    ops = UserGroupsOperations()
    first, _, third = create(
        ops,
        group("one", member("users", DEBORAH)),
        group("two", member("users", PATRICIA)),
        group("three", member("users", DEBORAH), description="third"),
    )
    response = ops.get_associate_groups_of_user(
        DEBORAH, params(GetAssociateGroupsOfUserParam, page="1", per_page="200")
    )
    assert response.get_status_code() == 200
    # The user-groups class parses this answer with its own models (``Groups``).
    wrapper = response.get_object()
    assert isinstance(wrapper, ResponseWrapper)
    shown = [(found.get_id(), found.get_name()) for found in wrapper.get_user_groups()]
    assert shown == [(first, "one"), (third, "three")]
    assert wrapper.get_user_groups()[1].get_description() == "third"
    assert wrapper.get_user_groups()[0].get_created_by().get_id() == PATRICIA
    assert wrapper.get_info().get_count() == 2

    same = UsersOperations().get_associated_groups(DEBORAH).get_object()
    assert isinstance(same, AssociatedGroupsWrapper)
    assert [found.get_id() for found in same.get_user_groups()] == [first, third]
    assert same.get_user_groups()[0].get_created_by().get_name() == "Patricia Boyle"
    nobody = ops.get_associate_groups_of_user(RUTH)
    assert (nobody.get_status_code(), nobody.get_object()) == (204, None)


def test_users_directory(emulator: ZohoEmulator) -> None:
    users = UsersOperations()
    response = users.get_users(params(GetUsersParam, type="AllUsers", per_page=2))
    assert response.get_status_code() == 200
    wrapper = response.get_object()
    assert isinstance(wrapper, UsersWrapper)
    first, second = wrapper.get_users()
    assert (first.get_id(), first.get_full_name(), first.get_email()) == (
        PATRICIA,
        "Patricia Boyle",
        "patricia.boyle@example.com",
    )
    assert first.get_status() == "active" and first.get_confirm() is True
    assert second.get_id() == DEBORAH and second.get_role().get_name() == "Manager"
    assert wrapper.get_info().get_more_records() is True

    deactivated = users.get_users(params(GetUsersParam, type="DeactiveUsers")).get_object()
    assert [(u.get_id(), u.get_status()) for u in deactivated.get_users()] == [(RUTH, "disabled")]
    current = users.get_users(params(GetUsersParam, type="CurrentUser")).get_object()
    assert [u.get_id() for u in current.get_users()] == [PATRICIA]

    (one,) = users.get_user(DEBORAH).get_object().get_users()
    assert (one.get_first_name(), one.get_last_name()) == ("Deborah", "Gill")
    missing = users.get_user(1234)
    assert (missing.get_status_code(), missing.get_object()) == (204, None)


def test_errors_parse_as_api_exceptions(emulator: ZohoEmulator, tmp_path: Path) -> None:
    ops = UserGroupsOperations()
    create(ops, group("taken"))

    response = ops.create_groups(wrap(group("TAKEN")))
    assert response.get_status_code() == 400
    (entry,) = response.get_object().get_user_groups()
    assert isinstance(entry, APIException)
    assert value(entry.get_code()) == "DUPLICATE_DATA"
    assert value(entry.get_status()) == "error"
    # The SDK's model keeps only ``resource_path_index`` and ``param_name`` of ``details``:
    # the emulator's ``api_name``/``json_path`` are dropped by the SDK, not missing.
    assert entry.get_message() == "duplicate data"

    missing = ops.get_group(1234567890)
    assert (missing.get_status_code(), missing.get_object()) == (204, None)
    for response in (
        ops.update_group(1234567890, wrap(group("x"))),
        ops.delete_group(1234567890),
        ops.get_sources(1234567890),
    ):
        assert response.get_status_code() == 400
        error = response.get_object()
        assert isinstance(error, APIException)
        assert value(error.get_code()) == "INVALID_DATA"
        assert error.get_details() == {"resource_path_index": 0}

    base = emulator_url(emulator)
    use_sdk(base, tmp_path, token="not-a-valid-token")
    response = UserGroupsOperations().get_groups()
    assert response.get_status_code() == 401
    error = response.get_object()
    assert isinstance(error, APIException)
    assert (value(error.get_code()), error.get_message()) == (
        "INVALID_TOKEN",
        "invalid oauth token",
    )


def emulator_url(emulator: ZohoEmulator) -> str:
    """The base URL the SDK is initialised with (its environment's API URL)."""
    url = Initializer.get_initializer().environment.url
    assert isinstance(url, str)
    return url


def test_the_sdk_asks_who_it_is_and_never_leaves_loopback(
    emulator: ZohoEmulator, tmp_path: Path
) -> None:
    # With find_user on (the SDK's default), the first call first asks the users API for
    # the current user, to key its token store: the emulator answers it too.
    use_sdk(emulator_url(emulator), tmp_path, find_user=True)
    assert UserGroupsOperations().get_groups().get_status_code() == 204
    who, org = emulator.requests[:2]
    assert (who.method, who.path, who.query) == ("GET", "/crm/v8/users", {"type": "CurrentUser"})
    assert (org.method, org.path) == ("GET", "/crm/v8/org")
    hosts = {request.headers.get("Host", "") for request in emulator.requests}
    assert hosts and all(host.startswith("127.0.0.1:") for host in hosts)
    assert json.dumps([r.path for r in emulator.requests]).count("/oauth/") == 0
