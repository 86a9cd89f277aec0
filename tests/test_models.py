from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from unigroups import (
    UNSET,
    Capabilities,
    Group,
    GroupChanges,
    Member,
    MemberKind,
    UnsupportedOperationError,
    User,
    UserDirectory,
    ValidationError,
)
from unigroups.backends.memory import MemoryBackend


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_blank_name_is_refused(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        Group(name=name)
    assert info.value.field == "name"


@pytest.mark.parametrize("kind", ["user", "group"])
def test_subordinates_only_on_roles_and_territories(kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        Member(kind, "1", include_subordinates=True)  # type: ignore[arg-type]
    assert info.value.field == "include_subordinates"
    assert Member("role", "1", include_subordinates=True).kind is MemberKind.ROLE  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1, 1.0, None, b"1", 3652397000000186017])
def test_member_id_must_be_a_string(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        Member(MemberKind.USER, bad)  # type: ignore[arg-type]
    assert info.value.field == "id"


def test_group_id_must_be_a_string() -> None:
    with pytest.raises(ValidationError) as info:
        Group(name="a", id=5)  # type: ignore[arg-type]
    assert info.value.field == "id"


def test_unknown_kind_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        Member("team", "1")  # type: ignore[arg-type]
    assert info.value.field == "kind"


def test_same_member_twice_is_refused_even_with_other_name_or_flags() -> None:
    with pytest.raises(ValidationError) as info:
        Group(
            name="a",
            members=[Member("role", "1", name="x"), Member("role", "1", include_subordinates=True)],  # type: ignore[arg-type]
        )
    assert info.value.field == "members"
    # the same id under another kind is another member
    assert (
        len(Group(name="a", members=[Member("role", "1"), Member("user", "1")]).members or ()) == 2
    )  # type: ignore[arg-type]


def test_members_list_becomes_a_tuple_and_order_does_not_matter() -> None:
    a, b = Member(MemberKind.USER, "1"), Member(MemberKind.ROLE, "2")
    group = Group(name="g", members=[a, b])
    assert group.members == (a, b)
    assert group == Group(name="g", members=(b, a))
    assert hash(group) == hash(Group(name="g", members=(b, a)))


def test_member_name_and_raw_are_not_identity() -> None:
    assert Member(MemberKind.USER, "1", name="Ann") == Member(MemberKind.USER, "1")
    assert Group(name="g", raw={"x": 1}) == Group(name="g")
    assert "raw" not in repr(Group(name="g", raw={"token": "s"}))


def test_models_are_frozen_and_slotted() -> None:
    group = Group(name="g")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        group.name = "h"  # type: ignore[misc]
    assert not hasattr(group, "__dict__")
    for cls in (Member, Group, GroupChanges, Capabilities):
        assert "__slots__" in cls.__dict__


def test_changes_refuse_a_member_both_added_and_removed() -> None:
    with pytest.raises(ValidationError):
        GroupChanges(add=[Member(MemberKind.USER, "1")], remove=[Member(MemberKind.USER, "1")])


def test_empty_changes_are_falsy_and_unset_is_distinct_from_none() -> None:
    assert not GroupChanges()
    assert GroupChanges(description=None)
    assert GroupChanges().description is UNSET
    assert repr(UNSET) == "UNSET"


def test_capabilities_check_refuses_what_the_vendor_cannot_hold() -> None:
    caps = Capabilities(
        member_kinds={"user", "role"},
        subordinates=False,
        hard_delete=True,
        rank=False,
        name_max_length=5,
        description_max_length=3,
    )
    with pytest.raises(ValidationError) as info:
        caps.check_group(Group(name="toolong"))
    assert info.value.field == "name"
    with pytest.raises(ValidationError) as info:
        caps.check_changes(GroupChanges(description="four"))
    assert info.value.field == "description"
    with pytest.raises(UnsupportedOperationError) as unsupported:
        caps.check_group(Group(name="a", members=[Member(MemberKind.TERRITORY, "1")]))
    assert unsupported.value.capability == "member_kinds"
    with pytest.raises(UnsupportedOperationError) as unsupported:
        caps.check_group(Group(name="a", members=[Member("role", "1", include_subordinates=True)]))  # type: ignore[arg-type]
    assert unsupported.value.capability == "subordinates"
    with pytest.raises(UnsupportedOperationError):
        caps.check_changes(GroupChanges(rank=1))


# -- GroupChanges.between, property-tested ----------------------------------------------------

ids = st.sampled_from([str(n) for n in range(6)])


@st.composite
def members(draw: st.DrawFn) -> Member:
    kind = draw(st.sampled_from(MemberKind))
    subordinates = kind in (MemberKind.ROLE, MemberKind.TERRITORY) and draw(st.booleans())
    return Member(kind, draw(ids), include_subordinates=subordinates)


member_sets = st.lists(members(), max_size=8, unique_by=lambda m: m.key).map(tuple)


plain = st.characters(exclude_categories=("Cc", "Cs"))  # what names may hold


@st.composite
def groups(draw: st.DrawFn) -> Group:
    return Group(
        name=draw(st.text(plain, min_size=1, max_size=8).filter(str.strip)),
        description=draw(st.none() | st.text(plain, max_size=8)),
        members=draw(member_sets),
        active=draw(st.booleans()),
        rank=draw(st.none() | st.integers(-5, 5)),
        id="1",
        created_at=datetime(2024, 1, 1),
    )


@given(groups(), groups())
def test_between_gives_changes_that_turn_a_into_b(a: Group, b: Group) -> None:
    changes = GroupChanges.between(a, b)
    # rank=None means "unchanged" in GroupChanges, so a rank cannot be cleared (no vendor with
    # ranks has rank-less groups): b without a rank keeps a's.
    expected = b if b.rank is not None else attrs.evolve(b, rank=a.rank)
    assert changes.apply_to(a) == expected


@given(groups())
def test_between_a_group_and_itself_is_empty(a: Group) -> None:
    assert not GroupChanges.between(a, a)


@given(groups(), member_sets, member_sets)
def test_adding_twice_or_removing_absent_changes_nothing(
    a: Group, add: tuple[Member, ...], remove: tuple[Member, ...]
) -> None:
    remove = tuple(m for m in remove if m.key not in {x.key for x in add})
    once = GroupChanges(add=add, remove=remove).apply_to(a)
    assert GroupChanges(add=add, remove=remove).apply_to(once) == once


GOOD_GROUP: dict[str, Any] = {
    "name": "Sales",
    "description": "d",
    "members": (),
    "id": "42",
    "active": False,
    "rank": 3,
    "created_at": datetime(2024, 5, 6, tzinfo=UTC),
    "modified_at": datetime(2024, 5, 7, tzinfo=UTC),
    "backend": "zoho",
}


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("name", ""),
        ("name", " \t"),
        ("name", 5),
        ("name", None),
        ("description", 5),
        ("members", "abc"),
        ("members", [1]),
        ("id", ""),
        ("id", "  "),
        ("id", 42),
        ("active", 1),
        ("active", None),
        ("rank", True),
        ("rank", "3"),
        ("created_at", "2024-05-06"),
        ("modified_at", 0),
        ("backend", b"zoho"),
    ],
)
def test_every_group_field_refuses_a_bad_value_naming_the_field(field: str, bad: Any) -> None:
    """The one-pass check of the usual case must let nothing through that a field's own
    check refuses, and the error names the field."""
    with pytest.raises(ValidationError) as info:
        Group(**{**GOOD_GROUP, field: bad})
    assert info.value.field == field


def test_a_group_with_every_field_set_is_accepted() -> None:
    group = Group(**GOOD_GROUP)
    assert (group.name, group.id, group.active, group.rank) == ("Sales", "42", False, 3)


def test_user_reads_email_lower_cased_and_keeps_raw_out_of_identity() -> None:
    user = User("42", "Ada", "Ada@Example.COM", raw={"id": "42"})
    assert user.email == "ada@example.com"
    assert user == User("42", "Ada", "ada@example.com")
    assert "raw" not in repr(user)
    assert (user.active, user.backend) == (True, None)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        user.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("id", ""),
        ("id", " "),
        ("id", 42),
        ("name", 1),
        ("email", 1),
        ("active", "yes"),
        ("backend", 1),
    ],
)
def test_every_user_field_refuses_a_bad_value_naming_the_field(field: str, bad: Any) -> None:
    values: dict[str, Any] = {"id": "1", field: bad}
    with pytest.raises(ValidationError) as info:
        User(**values)
    assert info.value.field == field


def test_user_directory_is_a_runtime_checkable_protocol() -> None:
    assert isinstance(MemoryBackend(), UserDirectory)
    assert not isinstance(object(), UserDirectory)


def test_primary_is_a_user_flag_outside_identity() -> None:
    ann = Member(MemberKind.USER, "7", primary=True)
    assert ann == Member(MemberKind.USER, "7")  # the flag is not identity
    assert ann.primary is True
    with pytest.raises(ValidationError, match="only users have a primary group") as caught:
        Member(MemberKind.ROLE, "7", primary=True)
    assert caught.value.field == "primary"
    with pytest.raises(ValidationError):
        Member(MemberKind.USER, "7", primary="yes")  # type: ignore[arg-type]


CONTROL_TEXT = [
    "a\x00b",  # NUL
    "a\rb",
    "a\nb",
    "a\tb",
    "a\x1bb",  # ESC: a terminal escape
    "a\x7fb",  # DEL
    "a\x85b",  # C1: NEL
    "a\x9bb",  # C1: CSI
    "a\ud800b",  # a lone surrogate
    "a\udfff",
]


@pytest.mark.parametrize("text", CONTROL_TEXT)
@pytest.mark.parametrize("field", ["name", "description"])
def test_control_characters_in_a_name_or_description_are_refused(field: str, text: str) -> None:
    with pytest.raises(ValidationError, match=r"U\+[0-9A-F]{4} at position 1") as info:
        Group(**{"name": "Sales", field: text})
    assert info.value.field == field
    with pytest.raises(ValidationError) as changed:
        GroupChanges(**{field: text})
    assert changed.value.field == field


@pytest.mark.parametrize("text", ["Équipe\u00a0Nord", "👩\u200d💻 devs", "Ops [/x] team", "a b"])
def test_printable_text_that_isprintable_rejects_is_still_accepted(text: str) -> None:
    """A no-break space or a zero-width joiner is not printable to Python, but it is text."""
    assert Group(text, description=text).name == text
    assert GroupChanges(name=text, description=text).name == text
