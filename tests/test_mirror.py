import json

from unigroups import Group, Member, MemberKind, open_backend
from unigroups.backends.memory import MemoryBackend
from unigroups.batch import Create, Delete, Update
from unigroups.mirror import apply, plan

ANN = Member(MemberKind.USER, "1", name="Ann")
BOB = Member(MemberKind.USER, "2")
SALES_ROLE = Member(MemberKind.ROLE, "10", include_subordinates=True)


async def source_and_target() -> tuple[MemoryBackend, MemoryBackend]:
    source, target = MemoryBackend(), MemoryBackend()
    await source.create(Group(name="new", description="d", members=[ANN]))
    await source.create(Group(name="same", members=[BOB]))
    await source.create(Group(name="changed", description="after", members=[ANN, SALES_ROLE]))
    await target.create(Group(name="same", members=[Member(MemberKind.USER, "102")]))
    await target.create(
        Group(name="changed", description="before", members=[Member(MemberKind.USER, "102")])
    )
    await target.create(Group(name="extra"))
    return source, target


MAP = {"user:1": "101", "user:2": "102", "role:10": "110"}


async def test_plan_creates_updates_and_leaves_what_matches() -> None:
    source, target = await source_and_target()
    result = await plan(source, target, member_map=MAP)
    ops = {type(op).__name__: op for op in result.operations}
    assert set(ops) == {"Create", "Update"}
    create = ops["Create"]
    assert isinstance(create, Create)
    assert create.group.members == (Member(MemberKind.USER, "101"),)
    update = ops["Update"]
    assert isinstance(update, Update)
    assert update.changes.description == "after"
    assert set(update.changes.add) == {
        Member(MemberKind.USER, "101"),
        Member(MemberKind.ROLE, "110", include_subordinates=True),
    }
    assert update.changes.remove == (Member(MemberKind.USER, "102"),)
    assert result.unchanged == ("same",)
    assert result.skipped == ()


async def test_delete_missing_deletes_groups_the_source_lacks() -> None:
    source, target = await source_and_target()
    result = await plan(source, target, member_map=MAP, delete_missing=True)
    deletes = [op for op in result.operations if isinstance(op, Delete)]
    extra = await target.find("extra")
    assert extra is not None and [d.group_id for d in deletes] == [extra.id]


async def test_unmapped_members_and_kinds_the_target_cannot_hold_are_skipped_with_reasons(
    superoffice_url: str,
) -> None:
    source = MemoryBackend()
    await source.create(Group(name="g", members=[ANN, SALES_ROLE]))
    partial = await plan(source, MemoryBackend(), member_map={"user:1": "101"})
    assert [(s.member, s.reason) for s in partial.skipped] == [
        (SALES_ROLE, "no mapping for this member")
    ]
    office = {"base_url": superoffice_url, "username": "test-user", "password": "test-password"}
    async with open_backend("superoffice", **office) as target:
        result = await plan(source, target)
    assert [(s.member, s.reason) for s in result.skipped] == [
        (ANN, "the source has no user with this id"),  # the memory source lists no users
        (SALES_ROLE, "the target cannot hold a role"),  # SuperOffice's members are users
    ]
    async with open_backend("superoffice", user_management=False, **office) as target:
        result = await plan(source, target)
    assert {s.member for s in result.skipped} == {ANN, SALES_ROLE}
    assert {s.reason for s in result.skipped} == {"the target keeps no members on groups"}
    (create,) = result.operations
    assert isinstance(create, Create) and create.group.members is None


async def test_a_plan_prints_as_a_table_and_serialises_to_json() -> None:
    source, target = await source_and_target()
    await source.create(Group(name="roles", members=[SALES_ROLE]))
    result = await plan(source, target, member_map={"user:1": "101", "user:2": "102"})
    text = str(result)
    assert text.splitlines()[0].split() == ["ACTION", "GROUP", "DETAILS"]
    assert any(line.split()[:2] == ["create", "new"] for line in text.splitlines())
    assert any(line.split()[:2] == ["update", "changed"] for line in text.splitlines())
    assert "skip" in text and "no mapping" in text
    assert text.splitlines()[-1] == "memory -> memory: 3 changes, 1 unchanged, 2 skipped"
    data = json.loads(result.dumps())
    assert data["operations"][0] == {
        "action": "create",
        "name": "new",
        "description": "d",
        "members": [{"kind": "user", "id": "101", "include_subordinates": False}],
    }
    assert data["skipped"][1:] == [
        {
            "group": "roles",
            "reason": "no mapping for this member",
            "member": {"kind": "role", "id": "10"},
        }
    ]


async def test_apply_runs_the_plan_and_a_second_plan_is_empty(zoho_url: str) -> None:
    source, _ = await source_and_target()
    async with open_backend("zoho", api_domain=zoho_url, access_token="test-token") as target:
        first = await plan(source, target, member_map=MAP)
        report = await apply(first, target)
        assert report.ok and report.done == len(first.operations) == 3
        second = await plan(source, target, member_map=MAP)
        assert second.operations == ()
        assert sorted(second.unchanged) == ["changed", "new", "same"]
        changed = await target.find("changed")
        assert changed is not None and changed.id
        assert set((await target.get(changed.id)).members or ()) == {
            Member(MemberKind.USER, "101"),
            Member(MemberKind.ROLE, "110", include_subordinates=True),
        }
