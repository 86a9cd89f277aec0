"""The fast paths the benchmarks asked for give exactly what the slow, obvious code gives.

Zoho's hot wire shapes have a direct structure hook next to cattrs' generated one; the
transport checks JSON nesting on the bytes instead of walking the parsed value; the adaptive
limit probes slowly near the level a vendor refused. None of that may change an answer.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any
from unittest import mock

import attrs
import cattrs
import pytest
from cattrs.gen import make_dict_structure_fn, override
from hypothesis import example, given, settings
from hypothesis import strategies as st

from unigroups.backends.decoding import structure_answer
from unigroups.backends.zoho import wire
from unigroups.concurrency import AdaptiveLimit
from unigroups.errors import TransportError
from unigroups.http import _MAX_JSON_DEPTH, _json_value, _too_deep
from unigroups.models import (
    UNSET,
    Group,
    Member,
    MemberKind,
    group_from_checked,
    member_from_checked,
)


def _reference() -> cattrs.Converter:
    """Zoho's converter with cattrs' generated hooks only: the behaviour to match."""
    converter = wire._make_converter()
    converter.register_structure_hook(
        wire.ZohoSource,
        make_dict_structure_fn(wire.ZohoSource, converter, delete=override(rename="_delete")),
    )
    for cls in (wire.ZohoUserGroup, wire.ZohoAnswerEntry):
        converter.register_structure_hook(cls, make_dict_structure_fn(cls, converter))
    return converter


REFERENCE = _reference()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.sampled_from(["2024-05-06T10:11:12+05:30", "2024-05-06", "not a time", "users", "roles"]),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=2),
    st.dictionaries(st.text(max_size=3), scalars, max_size=2),
)
refs = st.one_of(
    values,
    st.fixed_dictionaries(
        {}, optional={"id": st.one_of(st.text(max_size=4), values), "name": values}
    ),
)
sources = st.one_of(
    values,
    st.fixed_dictionaries(
        {},
        optional={
            "source": refs,
            "type": st.one_of(st.sampled_from(["users", "roles"]), values),
            "subordinates": values,
            "sub_territories": values,
            "_delete": values,
        },
    ),
)
groups = st.one_of(
    values,
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(st.text(max_size=4), values),
            "id": st.one_of(st.text(max_size=4), values),
            "description": values,
            "sources": st.one_of(st.lists(sources, max_size=3), values),
            "created_time": values,
            "modified_time": values,
            "created_by": values,
        },
    ),
)


def _outcome(converter: cattrs.Converter, data: Any, cls: Any) -> Any:
    try:
        return ("ok", structure_answer(converter, data, cls, backend="zoho", what="a group"))
    except TransportError as exc:  # the same value, or the same message naming the field
        return ("error", str(exc))


@settings(max_examples=600)
@given(sources)
def test_the_source_fast_path_matches_cattrs(data: Any) -> None:
    assert _outcome(wire.converter, data, wire.ZohoSource) == _outcome(
        REFERENCE, data, wire.ZohoSource
    )


@settings(max_examples=600)
@given(groups)
def test_the_group_fast_path_matches_cattrs(data: Any) -> None:
    assert _outcome(wire.converter, data, wire.ZohoUserGroup) == _outcome(
        REFERENCE, data, wire.ZohoUserGroup
    )


listed = st.fixed_dictionaries(  # a list page's group: usually a name and an id, no sources
    {
        "name": st.one_of(st.text(max_size=4), values),
        "id": st.one_of(st.text(st.characters(codec="ascii"), max_size=4), values),
    },
    optional={
        "description": values,
        "created_time": values,
        "modified_time": values,
        "created_by": values,
        "sources": st.lists(sources, max_size=2),
    },
)


def _group(data: Any, direct: bool) -> Any:
    try:
        if direct:
            group = wire.group_from_zoho(data)
        else:  # the path through the wire objects and the validating constructor
            with mock.patch.object(wire, "_listed_group_directly", return_value=None):
                group = wire.group_from_zoho(data)
    except TransportError as exc:
        return ("error", str(exc))
    return ("ok", attrs.asdict(group, recurse=False))  # every field, raw included


@settings(max_examples=800)
@given(st.one_of(listed, groups))
@example({"name": " ", "id": "1"})
@example({"name": "a", "id": ""})
@example({"name": "a", "id": "1", "created_time": "not a time"})
@example({"name": "a", "id": "1", "modified_time": "2024-05-06T10:11:12+05:30"})
@example({"name": "a", "id": "1", "sources": []})
def test_listed_groups_read_directly_are_the_ones_read_through_the_wire_objects(
    data: Any,
) -> None:
    assert _group(data, direct=True) == _group(data, direct=False)


CREATED = datetime(2024, 5, 6, 10, 11, 12, tzinfo=timezone(timedelta(hours=5, minutes=30)))
RAW = {"name": "Sales", "id": "42"}


@pytest.mark.parametrize(
    ("fast", "slow"),
    [
        (
            group_from_checked("Sales", "42", "d", CREATED, None, "zoho", RAW),
            Group("Sales", "d", id="42", created_at=CREATED, backend="zoho", raw=RAW),
        ),
        (
            member_from_checked(MemberKind.ROLE, "7", "Manager", True),
            Member(MemberKind.ROLE, "7", name="Manager", include_subordinates=True),
        ),
    ],
    ids=["group", "member"],
)
def test_a_model_built_from_checked_values_is_the_validated_one_field_for_field(
    fast: Group | Member, slow: Group | Member
) -> None:
    assert type(fast) is type(slow)
    # Every field, read one by one: a field the builder forgot would raise AttributeError.
    fields = attrs.fields(type(slow))
    assert {f.name: getattr(fast, f.name) for f in fields} == {
        f.name: getattr(slow, f.name) for f in fields
    }
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.id = "8"  # type: ignore[misc]


entries = st.one_of(
    values,
    st.fixed_dictionaries(
        {},
        optional={
            "code": st.one_of(st.sampled_from(["SUCCESS", "DUPLICATE_DATA"]), values),
            "status": st.one_of(st.sampled_from(["success", "error"]), values),
            "message": values,
            "details": st.one_of(
                values, st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), values)
            ),
        },
    ),
)


@settings(max_examples=600)
@given(entries)
def test_the_answer_entry_fast_path_matches_cattrs(data: Any) -> None:
    mine = _outcome(wire.converter, data, wire.ZohoAnswerEntry)
    assert mine == _outcome(REFERENCE, data, wire.ZohoAnswerEntry)
    if mine[0] == "ok":
        assert wire.entry_json(mine[1]) == attrs.asdict(mine[1])


def _members(data: Any, direct: bool) -> Any:
    try:
        if direct:
            found = wire.members_from_answer(data)
        else:  # the path through the wire objects
            items = data["sources"]
            found = [
                wire.member_from_source(source)
                for source in wire.structure(items, list[wire.ZohoSource], "the group's members")
            ]
    except TransportError as exc:
        return ("error", str(exc))
    return ("ok", [(m.kind, m.id, m.name, m.include_subordinates) for m in found])


@settings(max_examples=600)
@given(st.lists(sources, max_size=4))
@example([{"source": {"id": " "}, "type": "users"}])
@example([{"source": {"id": "1", "name": "a"}, "type": "roles", "sub_territories": True}])
def test_members_read_directly_are_the_ones_read_through_the_wire_objects(items: Any) -> None:
    data = {"sources": items}
    assert _members(data, direct=True) == _members(data, direct=False)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


tricky = st.text(alphabet='[]{}"\\ab\né\U0001f600', max_size=6)
documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), tricky),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(tricky, inner, max_size=3)
    ),
    max_leaves=30,
)


@settings(max_examples=500)
@given(documents, st.integers(0, 70), st.booleans(), st.booleans(), st.booleans())
def test_nesting_is_measured_on_the_bytes_like_on_the_value(
    document: Any, wraps: int, ascii_only: bool, indented: bool, bracketed_text: bool
) -> None:
    # Levels wrapped with bracket-laden keys and strings, or with plain ones (the usual case,
    # which takes the short cut when no string in the document holds a bracket).
    key, text = ('k[\\"', "}}") if bracketed_text else ("k", "x")
    for n in range(wraps):
        document = [document] if n % 2 else {key: document, "x": text}
    body = json.dumps(document, ensure_ascii=ascii_only, indent=1 if indented else None).encode()
    assert _too_deep(body) == (_depth(document) > _MAX_JSON_DEPTH)


def test_nesting_at_the_limit_is_read_and_past_it_refused() -> None:
    assert _json_value(b"[" * _MAX_JSON_DEPTH + b"]" * _MAX_JSON_DEPTH) is not None
    with pytest.raises(ValueError, match="too deep"):
        _json_value(b"[" * (_MAX_JSON_DEPTH + 1) + b"]" * (_MAX_JSON_DEPTH + 1))


def test_the_limit_comes_down_to_a_cap_at_once_and_probes_past_it_slowly() -> None:
    now = [0.0]
    limit = AdaptiveLimit(32, clock=lambda: now[0])
    limit.active = 32
    for _ in range(22):  # a burst: 22 of 32 refused within one round trip
        limit.rate_limited_by_vendor(None)
        limit.active -= 1
    assert limit.current == 10  # what was in flight besides the refused calls, less one

    def successes_from_10_to_11(probe: float) -> int:
        climbing = AdaptiveLimit(32, probe=probe)
        climbing.limit, climbing._refused_at = 10.0, 11.0
        steps = 0
        while climbing.limit < 11:
            climbing.succeeded()
            steps += 1
        return steps

    assert successes_from_10_to_11(0.0625) >= 15 * successes_from_10_to_11(1.0)


async def test_slots_never_exceed_the_limit_and_a_cancelled_waiter_leaks_nothing() -> None:
    limit = AdaptiveLimit(3, adaptive=False)
    peak = 0

    async def user() -> None:
        nonlocal peak
        async with limit.slot():
            peak = max(peak, limit.active)
            await asyncio.sleep(0.01)

    users = [asyncio.create_task(user()) for _ in range(20)]
    await asyncio.sleep(0.005)
    users[10].cancel()
    users[15].cancel()
    await asyncio.gather(*users, return_exceptions=True)
    assert (peak, limit.active, len(limit._waiters)) == (3, 0, 0)


async def test_a_waiter_woken_and_then_cancelled_passes_its_turn_on() -> None:
    limit = AdaptiveLimit(1, adaptive=False)
    async with limit.slot():
        first = asyncio.create_task(limit.slot().__aenter__())
        second = asyncio.create_task(limit.slot().__aenter__())
        await asyncio.sleep(0)  # both wait
    first.cancel()  # leaving the slot woke it; it is cancelled before it runs
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)
    assert limit.active == 1


def test_the_zoho_emulator_cli_seeds_groups_and_takes_several_per_call() -> None:
    command = [
        sys.executable,
        "-m",
        "unigroups.testing.zoho_emulator",
        "--seed-groups",
        "3",
        "--max-groups-per-request",
        "2",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base = process.stdout.readline().strip()

            def call(method: str, body: Any = None) -> tuple[int, Any]:
                request = urllib.request.Request(
                    f"{base}/crm/v8/settings/user_groups",
                    method=method,
                    data=None if body is None else json.dumps(body).encode(),
                    headers={"Authorization": "Zoho-oauthtoken test-token"},
                )
                with urllib.request.urlopen(request) as answer:
                    return answer.status, json.load(answer)

            status, listing = call("GET")
            assert status == 200
            assert [g["name"] for g in listing["user_groups"]] == [
                f"seeded group {n:07d}" for n in range(3)
            ]
            two = {"user_groups": [{"name": "a", "sources": []}, {"name": "b", "sources": []}]}
            assert call("POST", two)[0] == 201
        finally:
            process.terminate()


members = st.builds(
    lambda kind, member_id, name, subordinates: Member(
        kind,
        member_id,
        name=name,
        include_subordinates=subordinates and kind in (MemberKind.ROLE, MemberKind.TERRITORY),
    ),
    st.sampled_from(list(MemberKind)),
    st.from_regex(r"[0-9]{1,19}", fullmatch=True),
    st.one_of(st.none(), st.text(max_size=5)),
    st.booleans(),
)


@settings(max_examples=300)
@given(
    st.text(min_size=1, max_size=5),
    st.one_of(st.none(), st.text(max_size=5)),
    st.lists(members, max_size=6),
)
def test_the_create_item_is_what_the_cattrs_path_gives(
    name: str, description: str | None, people: list[Member]
) -> None:
    expected = wire.group_to_zoho(
        name,
        description=UNSET if description is None else description,
        sources=[wire.source_for(m) for m in people],
    )
    made = wire.new_group_item(name, description, people)
    assert made == expected
    assert json.dumps(made) == json.dumps(expected)  # the same keys in the same order
