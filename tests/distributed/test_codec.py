"""Operations as JSON: what is written reads back as the same operation with the same key;
a Create's vendor data is never written; anything else read is a ValidationError."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unigroups import ValidationError
from unigroups.distributed.codec import dumps_operation, loads_operation
from unigroups.models import UNSET, Group, GroupChanges, Member, MemberKind
from unigroups.operations import Create, Delete, Operation, Update

plain = st.characters(exclude_categories=("Cc", "Cs"))  # what names and descriptions may hold
names = st.text(plain, min_size=1, max_size=12).filter(str.strip)
ids = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=6)


@st.composite
def members(draw: st.DrawFn) -> Member:
    kind = draw(st.sampled_from(MemberKind))
    subordinates = kind in (MemberKind.ROLE, MemberKind.TERRITORY) and draw(st.booleans())
    return Member(
        kind,
        draw(ids),
        name=draw(st.none() | names),
        include_subordinates=subordinates,
        primary=kind is MemberKind.USER and draw(st.booleans()),
    )


member_lists = st.lists(members(), max_size=5, unique_by=lambda m: m.key).map(tuple)


@st.composite
def creates(draw: st.DrawFn) -> Create:
    group = Group(
        name=draw(names),
        description=draw(st.none() | st.text(plain, max_size=12)),
        members=draw(st.none() | member_lists),
        active=draw(st.booleans()),
        rank=draw(st.none() | st.integers(-(2**40), 2**40)),
        raw=draw(st.dictionaries(st.text(max_size=4), st.integers(), max_size=2)),
    )
    return Create(group, key=draw(st.text(max_size=10))) if draw(st.booleans()) else Create(group)


@st.composite
def updates(draw: st.DrawFn) -> Update:
    both = draw(member_lists)
    split = draw(st.integers(0, len(both)))
    changes = GroupChanges(
        name=draw(st.none() | names),
        description=draw(st.sampled_from([UNSET, None]) | st.text(plain, max_size=12)),
        add=both[:split],
        remove=both[split:],
        active=draw(st.none() | st.booleans()),
        rank=draw(st.none() | st.integers(-5, 5)),
    )
    return Update(draw(ids), changes)


deletes = st.builds(Delete, ids)
operations = st.one_of(creates(), updates(), deletes)


@given(operations)
def test_every_operation_reads_back_as_itself_with_its_key(op: Operation) -> None:
    text = dumps_operation(op)
    back = loads_operation(text)
    assert back == op
    assert back.key == op.key
    assert type(back) is type(op)
    if isinstance(op, Create):  # a create's vendor data is never written
        assert set(json.loads(text)["group"]) <= {
            "name",
            "description",
            "members",
            "active",
            "rank",
        }
        assert isinstance(back, Create)
        assert back.group.members == op.group.members  # None (not loaded) stays None
        assert [m.primary for m in back.group.members or ()] == [
            m.primary for m in op.group.members or ()
        ]
    if isinstance(op, Update):
        assert isinstance(back, Update)
        assert back.changes.description == op.changes.description  # UNSET, None or text
    assert loads_operation(text.encode()) == op  # Redis hands back bytes


def test_a_create_of_a_group_read_from_a_vendor_writes_none_of_its_vendor_fields() -> None:
    group = Group("Sales", id="42", backend="zoho", raw={"token": "secret-raw-value"})
    text = dumps_operation(Create(group))
    assert "secret-raw-value" not in text and "zoho" not in text and "42" not in text
    assert json.loads(text) == {"op": "create", "group": {"name": "Sales"}, "key": "create:Sales"}


def test_a_description_left_unset_is_left_out_and_null_clears_it() -> None:
    unset = json.loads(dumps_operation(Update("7", GroupChanges(name="n"))))
    cleared = json.loads(dumps_operation(Update("7", GroupChanges(description=None))))
    assert "description" not in unset["changes"]
    assert cleared["changes"] == {"description": None}
    assert loads_operation(json.dumps(unset)).changes.description is UNSET  # type: ignore[union-attr]
    assert loads_operation(json.dumps(cleared)).changes.description is None  # type: ignore[union-attr]


CREATE = {"op": "create", "group": {"name": "a"}, "key": "create:a"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not json", "not a JSON operation"),
        (b"\xff\xfe", "not a JSON operation"),
        ("[1, 2]", 'no "op"'),
        ('{"group_id": "1"}', 'no "op"'),
        ('{"op": "rename", "group_id": "1"}', 'no "op"'),
        ('{"op": "delete", "group_id": "1", "key": "delete:1", "extra": 1}', "unknown key 'extra'"),
        ('{"op": "delete"}', "'group_id' is missing"),
        (
            '{"op": "create", "group": {"name": "a", "members": [{"kind": "boss", "id": "1"}]}}',
            "group.members[0].kind",
        ),
        (
            '{"op": "create", "group": {"name": "a", "members": '
            '[{"kind": "user", "id": "1", "include_subordinates": true}]}}',
            "only roles and territories have subordinates",
        ),
        ('{"op": "update", "group_id": "1", "changes": {"description": 5}}', "description"),
        ('{"op": "update", "group_id": "1", "changes": {"description": ["x"]}}', "not list"),
        ('{"op": "create", "group": {"name": "a", "raw": {"x": 1}}}', "unknown key 'raw'"),
        ('{"op": "create", "group": {"name": "a", "id": "9"}}', "unknown key 'id'"),
        ('{"op": "create", "group": {"name": "a\\u0000b"}}', "U+0000"),
        # nothing is coerced: a number is not a name, "false" is not a bool
        ('{"op": "create", "group": {"name": 5}}', "group.name must be a string, not 5"),
        (
            '{"op": "create", "group": {"name": "a", "active": "false"}}',
            "group.active must be true or false",
        ),
        ('{"op": "create", "group": {"name": "a", "rank": 1.5}}', "group.rank must be"),
        ('{"op": "delete", "group_id": 7}', "group_id must be a string"),
        ('{"op": "delete", "group_id": "7", "key": 7}', "key must be a string"),
        ('{"op": "create", "group": {"name": "a", "members": "ab"}}', "group.members must be"),
    ],
)
def test_anything_else_is_a_validation_error(text: str | bytes, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        loads_operation(text)
    assert fragment in str(info.value)
    assert info.value.field == "operation"


def test_an_unknown_key_of_a_group_offers_only_the_keys_a_create_keeps() -> None:
    with pytest.raises(ValidationError) as info:
        loads_operation('{"op": "create", "group": {"name": "a", "rw": 1}}')
    assert str(info.value).endswith(
        "group: unknown key 'rw'; known keys are name, description, members, active, rank."
    )  # no "Did you mean 'raw'?": raw is never kept
    with pytest.raises(ValidationError, match="Did you mean 'description'"):
        loads_operation('{"op": "create", "group": {"name": "a", "descriptoin": "x"}}')


def test_a_deeply_nested_document_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="not a JSON operation"):
        loads_operation("[" * 100_000 + "]" * 100_000)


def test_the_tag_and_fields_are_what_the_file_says() -> None:
    assert json.loads(dumps_operation(Delete("9"))) == {
        "op": "delete",
        "group_id": "9",
        "key": "delete:9",
    }
    assert loads_operation(json.dumps(CREATE)) == Create(Group("a"))


def test_defaults_are_left_out_down_to_the_members() -> None:
    group = Group(
        "a",
        members=[Member("role", "r1", include_subordinates=True), Member("user", "u", name="N")],
    )
    changes = GroupChanges(add=[Member("territory", "t")], remove=[Member("group", "g")])
    assert dumps_operation(Create(group)) == (
        '{"op":"create","group":{"name":"a","members":[{"kind":"role","id":"r1",'
        '"include_subordinates":true},{"kind":"user","id":"u","name":"N"}]},"key":"create:a"}'
    )
    assert json.loads(dumps_operation(Update("7", changes)))["changes"] == {
        "add": [{"kind": "territory", "id": "t"}],
        "remove": [{"kind": "group", "id": "g"}],
    }
