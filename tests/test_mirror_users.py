"""The mirror carries users across directories by e-mail: what each member became at the
target, or why it was left out (issue 15, DESIGN "Contract added in wave 2")."""

import contextlib
import re
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest

from unigroups import (
    Group,
    GroupBackend,
    Member,
    MemberKind,
    PermissionDeniedError,
    User,
    ValidationError,
    open_backend,
)
from unigroups.backends.memory import MemoryBackend
from unigroups.batch import Create, Update
from unigroups.mirror import apply, plan
from unigroups.testing.server import serve
from unigroups.testing.superoffice_emulator import SuperOfficeEmulator
from unigroups.testing.zoho_directory import ZohoUser
from unigroups.testing.zoho_emulator import ZohoEmulator

ANN, BOB, CAROL = "11", "12", "13"  # the source's users
ANN_THERE, CAROL_THERE = "901", "903"  # the same people at the target


def user(kind_id: str) -> Member:
    return Member(MemberKind.USER, kind_id)


async def two_directories() -> tuple[MemoryBackend, MemoryBackend]:
    source, target = MemoryBackend(), MemoryBackend()
    source.add_user(User(ANN, name="Ann", email="Ann.Lee@Example.com"))
    source.add_user(User(BOB, name="Bob", email="bob@example.com"))  # nobody at the target
    source.add_user(User(CAROL, name="Carol", email="carol@example.com"))
    target.add_user(User(ANN_THERE, name="Ann Lee", email="ann.lee@example.com"))
    target.add_user(User(CAROL_THERE, name="Carol", email="CAROL@example.com"))
    return source, target


async def test_users_are_matched_by_lower_cased_email_and_the_rest_skipped_with_why() -> None:
    source, target = await two_directories()
    await source.create(
        Group("Sales", members=[user(ANN), user(BOB), Member(MemberKind.ROLE, "500")])
    )
    result = await plan(source, target)
    (create,) = result.operations
    assert isinstance(create, Create)
    assert set(create.group.members or ()) == {
        user(ANN_THERE),
        Member(MemberKind.ROLE, "500"),  # not a user: its id is carried as it is
    }
    (skip,) = result.skipped
    assert (skip.group, skip.member) == ("Sales", user(BOB))
    assert skip.reason == "the target has no user with the e-mail bob@example.com"
    assert skip.to_json()["member"] == {"kind": "user", "id": BOB}


async def test_a_map_covers_users_first_and_e_mail_matches_the_ones_it_does_not() -> None:
    source, target = await two_directories()
    await source.create(Group("Sales", members=[user(ANN), user(CAROL)]))
    result = await plan(source, target, member_map={f"user:{ANN}": "777"})
    (create,) = result.operations
    assert isinstance(create, Create)
    assert set(create.group.members or ()) == {user("777"), user(CAROL_THERE)}
    assert result.skipped == ()


async def test_a_map_that_does_not_cover_a_role_skips_it() -> None:
    source, target = await two_directories()
    await source.create(Group("Sales", members=[Member(MemberKind.ROLE, "500")]))
    result = await plan(source, target, member_map={})
    assert [s.reason for s in result.skipped] == ["no mapping for this member"]


@pytest.mark.parametrize(
    ("held", "reason"),
    [
        (
            [User("901", email="ann.lee@example.com", active=False)],
            "the target's user with the e-mail ann.lee@example.com is inactive",
        ),
        (
            [User("901", email="ann.lee@example.com"), User("902", email="Ann.Lee@example.com")],
            "the target has 2 users with the e-mail ann.lee@example.com",
        ),
    ],
)
async def test_no_guess_between_inactive_or_several_users(held: list[User], reason: str) -> None:
    source, target = MemoryBackend(), MemoryBackend()
    source.add_user(User(ANN, email="ann.lee@example.com"))
    for one in held:
        target.add_user(one)
    await source.create(Group("Sales", members=[user(ANN)]))
    result = await plan(source, target)
    assert [(s.member, s.reason) for s in result.skipped] == [(user(ANN), reason)]


async def test_a_source_user_without_an_e_mail_or_a_record_is_skipped() -> None:
    source, target = await two_directories()
    source.add_user(User("14", name="No mail"))
    await source.create(Group("Sales", members=[user("14"), user("15")]))
    result = await plan(source, target)
    assert [(s.member, s.reason) for s in result.skipped] == [
        (user("14"), "the source user has no e-mail to match"),
        (user("15"), "the source has no user with this id"),
    ]


class _NineDigits(MemoryBackend):
    """A target whose ids are shorter than the source's (as SuperOffice's int32 ids are)."""

    id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[0-9]{1,9}")
    id_description: ClassVar[str] = "at most 9 digits"


async def test_without_matching_ids_are_carried_and_ones_the_target_cannot_hold_skipped() -> None:
    source, _ = await two_directories()
    narrow = _NineDigits()
    await source.create(Group("Sales", members=[user(ANN), user("5725767000000411001")]))
    result = await plan(source, narrow, match_users=None)
    (create,) = result.operations
    assert isinstance(create, Create)
    assert create.group.members == (user(ANN),)
    (skip,) = result.skipped
    assert skip.member == user("5725767000000411001")
    assert skip.reason.startswith("the target cannot hold this id:")
    assert "at most 9 digits" in skip.reason


async def test_a_primary_member_at_the_target_is_skipped_never_removed() -> None:
    source, target = await two_directories()
    await source.create(Group("Sales", members=[user(CAROL)]))
    await target.create(Group("Sales", members=[Member(MemberKind.USER, ANN_THERE, primary=True)]))
    result = await plan(source, target)
    (update,) = result.operations
    assert isinstance(update, Update)
    assert update.changes.add == (user(CAROL_THERE),)
    assert update.changes.remove == ()  # Ann's primary group: it can only be moved
    (skip,) = result.skipped
    assert (skip.member, skip.group) == (user(ANN_THERE), "Sales")
    assert "primary group" in skip.reason


async def test_a_second_plan_after_applying_plans_nothing() -> None:
    source, target = await two_directories()
    await source.create(Group("Sales", members=[user(ANN), user(CAROL), user(BOB)]))
    first = await plan(source, target)
    report = await apply(first, target)
    assert report.ok
    held = await target.find("Sales")
    assert held is not None and set(held.members or ()) == {user(ANN_THERE), user(CAROL_THERE)}
    second = await plan(source, target)
    assert second.operations == ()
    assert second.unchanged == ("Sales",)
    assert [s.member for s in second.skipped] == [user(BOB)]  # still no Bob there


async def test_a_source_user_is_not_made_primary_at_the_target() -> None:
    source, target = await two_directories()
    await source.create(Group("Sales", members=[Member(MemberKind.USER, ANN, primary=True)]))
    (create,) = (await plan(source, target)).operations
    assert isinstance(create, Create)
    assert [m.primary for m in create.group.members or ()] == [False]


async def test_an_unknown_matching_rule_is_refused_before_anything_is_read() -> None:
    source, target = await two_directories()
    with pytest.raises(ValidationError, match='must be "email" or None') as caught:
        await plan(source, target, match_users="name")  # type: ignore[arg-type]
    assert caught.value.field == "match_users"


# -- both ways between the vendors' emulators -----------------------------------------------

ZOHO_ANN, ZOHO_CAROL = "3652397000002000001", "3652397000002000003"


def zoho_org() -> ZohoEmulator:
    return ZohoEmulator(
        users=[
            ZohoUser(ZOHO_ANN, "Ann", "Lee", "ann.lee@example.com"),
            ZohoUser(ZOHO_CAROL, "Carol", "King", "Carol.King@example.com"),
        ]
    )


@contextlib.asynccontextmanager
async def backends_of(
    zoho_emulator: ZohoEmulator, office_emulator: SuperOfficeEmulator
) -> AsyncIterator[tuple[GroupBackend, GroupBackend]]:
    async with (
        serve(zoho_emulator.make_app()) as zoho_url,
        serve(office_emulator.make_app()) as office_url,
        open_backend("zoho", api_domain=zoho_url, access_token="test-token") as zoho,
        open_backend(
            "superoffice",
            base_url=office_emulator.api_url(office_url),
            username="test-user",
            password="test-password",
        ) as office,
    ):
        yield zoho, office


async def test_zoho_groups_arrive_at_superoffice_with_their_users() -> None:
    zoho_emulator, office_emulator = zoho_org(), SuperOfficeEmulator()
    ann = office_emulator.add_user("Ann Lee", "ANN.LEE@example.com")
    zoho_emulator.seed_group(
        "Sales",
        "EMEA",
        [
            {"source": {"id": ZOHO_ANN}, "type": "users"},
            {"source": {"id": ZOHO_CAROL}, "type": "users"},  # nobody at SuperOffice
        ],
    )
    async with backends_of(zoho_emulator, office_emulator) as (zoho, office):
        the_plan = await plan(zoho, office)
        assert [(s.member, s.reason) for s in the_plan.skipped] == [
            (user(ZOHO_CAROL), "the target has no user with the e-mail carol.king@example.com")
        ]
        assert (await apply(the_plan, office)).ok
        sales = await office.find("Sales")
        assert sales is not None and sales.id is not None
        # The tenant's own state: Ann's other groups hold Sales (it is not her primary).
        assert office_emulator.members_of(int(sales.id)) == {ann: False}
        assert (await plan(zoho, office)).operations == ()


async def test_superoffice_groups_arrive_at_zoho_with_their_users() -> None:
    zoho_emulator, office_emulator = zoho_org(), SuperOfficeEmulator()
    support = office_emulator.seed_group("Support")
    office_emulator.add_user("Carol King", "carol.king@example.com", primary_group=support)
    dan = office_emulator.add_user("Dan", "dan@example.com", other_groups=[support])
    async with backends_of(zoho_emulator, office_emulator) as (zoho, office):
        the_plan = await plan(office, zoho)
        no_dan = "the target has no user with the e-mail dan@example.com"
        # Dan's primary group is the tenant's default group, "Users": mirrored too.
        assert [(s.group, s.member, s.reason) for s in the_plan.skipped] == [
            ("Support", user(str(dan)), no_dan),
            ("Users", user(str(dan)), no_dan),
        ]
        assert (await apply(the_plan, zoho)).ok
        held = await zoho.find("Support")
        assert held is not None and held.id is not None
        # Carol's primary group at SuperOffice is an ordinary membership at Zoho.
        assert [(m.kind, m.id, m.primary) async for m in zoho.members(held.id)] == [
            (MemberKind.USER, ZOHO_CAROL, False)
        ]
        assert (await plan(office, zoho)).operations == ()


class _NoUsersScope(MemoryBackend):
    """A directory whose user listing the credentials may not read (a Zoho token without
    the users scope answers 403)."""

    async def users(self, *, include_inactive: bool = False) -> AsyncIterator[User]:
        raise PermissionDeniedError("OAUTH_SCOPE_MISMATCH", backend="memory", status=403)
        yield  # an async generator, like every listing


async def test_a_directory_that_may_not_be_listed_says_how_to_do_without_matching() -> None:
    source, target = MemoryBackend(), _NoUsersScope()
    source.add_user(User(ANN, email="ann@example.com"))
    await source.create(Group("Sales", members=[user(ANN)]))
    with pytest.raises(PermissionDeniedError, match="match_users=None carries") as caught:
        await plan(source, target)
    assert caught.value.status == 403
    without = await plan(source, target, match_users=None)
    (create,) = without.operations
    assert isinstance(create, Create) and create.group.members == (user(ANN),)
