"""Names under the target's case rules: what the memory backend holds apart, and what a mirror
matches, reports and spares."""

import attrs
import pytest

from unigroups import DuplicateGroupError, Group, GroupChanges, Member, MemberKind, open_backend
from unigroups.backends.memory import MemoryBackend
from unigroups.batch import Create, Delete, Operation, Update
from unigroups.mirror import Plan, plan
from unigroups.testing.zoho_emulator import ZohoEmulator


class CaseSensitiveMemory(MemoryBackend):
    """A backend for which "Sales" and "SALES" are two groups."""

    name = "case-sensitive"
    capabilities = attrs.evolve(MemoryBackend.capabilities, names_case_sensitive=True)


async def memory_with(*names: str, backend: MemoryBackend | None = None) -> MemoryBackend:
    backend = backend or MemoryBackend()
    for name in names:
        await backend.create(Group(name=name, description=f"about {name.lower()}"))
    return backend


def by_type(result: Plan) -> dict[type[Operation], list[Operation]]:
    found: dict[type[Operation], list[Operation]] = {}
    for op in result.operations:
        found.setdefault(type(op), []).append(op)
    return found


# -- the memory backend follows capabilities.name_key -----------------------------------------


async def test_memory_finds_creates_and_renames_under_one_case_rule() -> None:
    backend = await memory_with("Sales")
    found = await backend.find("SALES")
    assert found is not None and found.name == "Sales"
    with pytest.raises(DuplicateGroupError):
        await backend.create(Group(name="sales"))
    other = await backend.create(Group(name="Other"))
    assert other.id
    with pytest.raises(DuplicateGroupError):
        await backend.update(other.id, GroupChanges(name="SALES"))
    await backend.update(other.id, GroupChanges(name="OTHER"))  # its own name in another case
    assert (await backend.find("other")) == await backend.get(other.id)


async def test_a_case_sensitive_memory_backend_holds_both_cases_apart() -> None:
    backend = await memory_with("Sales", "sales", backend=CaseSensitiveMemory())
    upper, lower = await backend.find("Sales"), await backend.find("sales")
    assert upper is not None and lower is not None and upper.id != lower.id
    assert await backend.find("SALES") is None
    assert lower.id
    await backend.delete(lower.id)
    assert await backend.find("sales") is None and await backend.find("Sales") == upper


# -- matching -------------------------------------------------------------------------------


async def test_a_target_name_in_another_case_is_an_update_that_renames_it() -> None:
    source = await memory_with("Sales")
    target = await memory_with("sales")
    result = await plan(source, target)
    (update,) = result.operations
    assert isinstance(update, Update)
    assert update.changes.name == "Sales"
    assert result.rows() == [("update", "sales", "rename to Sales")]
    await target.update(update.group_id, update.changes)
    again = await plan(source, target)
    assert again.operations == () and again.unchanged == ("Sales",)


async def test_zoho_target_in_another_case_is_updated_not_created(
    zoho_emulator: ZohoEmulator, zoho_url: str
) -> None:
    ann = Member(MemberKind.USER, "1")
    source = MemoryBackend()
    await source.create(Group(name="Sales", members=[ann]))
    zoho_emulator.seed_group("SALES")
    async with open_backend("zoho", api_domain=zoho_url, access_token="test-token") as target:
        first = await plan(source, target, member_map={"user:1": "5725767000000411001"})
        (update,) = first.operations
        assert isinstance(update, Update) and update.changes.name == "Sales"
        assert [m.id for m in update.changes.add] == ["5725767000000411001"]
        await target.update(update.group_id, update.changes)
        second = await plan(source, target, member_map={"user:1": "5725767000000411001"})
    assert second.operations == () and second.unchanged == ("Sales",)


async def test_a_case_sensitive_target_creates_the_other_case() -> None:
    source = await memory_with("Sales")
    target = await memory_with("sales", backend=CaseSensitiveMemory())
    result = await plan(source, target, delete_missing=True)
    found = by_type(result)
    (create,) = found[Create]
    assert isinstance(create, Create) and create.group.name == "Sales"
    (delete,) = found[Delete]
    assert result.names[delete.key] == "sales"


# -- collisions -----------------------------------------------------------------------------


async def test_source_names_that_collide_at_the_target_are_skipped_never_merged() -> None:
    source = await memory_with("Sales", "SALES", "Support", backend=CaseSensitiveMemory())
    target = await memory_with("sales", "Legacy")
    result = await plan(source, target, delete_missing=True)
    reason = (
        "'Sales' and 'SALES' are one name at the target, which ignores case: "
        "none of them is mirrored"
    )
    assert [(s.group, s.reason, s.member) for s in result.skipped] == [
        ("Sales", reason, None),
        ("SALES", reason, None),
    ]
    found = by_type(result)
    assert [op.group.name for op in found[Create] if isinstance(op, Create)] == ["Support"]
    assert Update not in found
    legacy = await target.find("Legacy")
    assert legacy is not None
    # "sales" is matched by both source groups: it is neither changed nor deleted.
    assert [op.group_id for op in found[Delete] if isinstance(op, Delete)] == [legacy.id]
    assert ("skip", "SALES", reason) in result.rows()


async def test_three_names_colliding_are_all_named() -> None:
    source = await memory_with("ops", "Ops", "OPS", backend=CaseSensitiveMemory())
    result = await plan(source, MemoryBackend())
    assert result.operations == ()
    assert {s.reason for s in result.skipped} == {
        "'ops', 'Ops' and 'OPS' are one name at the target, which ignores case: "
        "none of them is mirrored"
    }


async def test_names_that_differ_only_in_case_do_not_collide_at_a_case_sensitive_target() -> None:
    source = await memory_with("Sales", "SALES", backend=CaseSensitiveMemory())
    result = await plan(source, CaseSensitiveMemory())
    assert [op.group.name for op in result.operations if isinstance(op, Create)] == [
        "Sales",
        "SALES",
    ]
    assert result.skipped == ()


# -- delete_missing -------------------------------------------------------------------------


async def test_delete_missing_spares_a_target_group_matched_in_another_case() -> None:
    source = await memory_with("Sales", "Support")
    target = await memory_with("SALES", "support", "Other")
    result = await plan(source, target, delete_missing=True)
    found = by_type(result)
    other = await target.find("Other")
    assert other is not None
    assert [op.group_id for op in found[Delete] if isinstance(op, Delete)] == [other.id]
    renamed = {op.changes.name for op in found[Update] if isinstance(op, Update)}
    assert renamed == {"Sales", "Support"}


async def test_a_target_holding_both_cases_matches_the_exact_name_and_spares_the_other() -> None:
    # The target tells case apart although its capabilities say it does not (set wrong).
    target = await memory_with("Sales", "SALES", backend=CaseSensitiveMemory())
    target.capabilities = MemoryBackend.capabilities
    source = await memory_with("SALES")
    result = await plan(source, target, delete_missing=True)
    assert result.operations == ()
    assert result.unchanged == ("SALES",)
