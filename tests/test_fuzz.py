"""Fuzzing with hypothesis: random and malformed vendor answers, random user input.

Whatever a vendor answers (wrong types, missing fields, huge strings, invalid UTF-8, bodies
that are not JSON, any status) only a unigroups error comes out of the wire modules and the
transport, never a KeyError, TypeError or AttributeError; random input to the models and to
``open_backend`` gives only ValidationError or ConfigurationError.

Every test is derandomized (the same examples on every run) so that CI cannot flake.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web
from aioresponses import CallbackResult, aioresponses
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from unigroups import (
    UNSET,
    BackendError,
    Capabilities,
    ConfigurationError,
    DecodingError,
    Group,
    GroupChanges,
    Member,
    MemberKind,
    UnigroupsError,
    UnsupportedOperationError,
    ValidationError,
    open_backend,
)
from unigroups.backends.memory import MemoryBackend
from unigroups.backends.superoffice import SuperOfficeBackend
from unigroups.backends.superoffice import wire as so_wire
from unigroups.backends.zoho import ZohoBackend
from unigroups.backends.zoho import wire as zoho_wire
from unigroups.errors import build_error
from unigroups.http import VendorError
from unigroups.registry import backend_class
from unigroups.testing.server import serve

SEEDS = Path(__file__).parent / "seeds"

FUZZ = settings(
    derandomize=True,  # the same examples on every run: CI does not flake
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)

# -- random JSON -------------------------------------------------------------------------

VENDOR_KEYS = (
    # Zoho
    "id",
    "name",
    "description",
    "sources",
    "source",
    "type",
    "subordinates",
    "sub_territories",
    "_delete",
    "created_time",
    "modified_time",
    "user_groups",
    "info",
    "more_records",
    "code",
    "details",
    "message",
    "status",
    "deletion_jobs",
    "Status",
    "job_id",
    "resource_path_index",
    # SuperOffice
    "Value",
    "Tooltip",
    "Id",
    "Rank",
    "Deleted",
    "TableRight",
    "FieldProperties",
    "Mask",
    "Reason",
    "FieldRight",
    "FieldType",
    "FieldLength",
    "Message",
    "ExceptionType",
    "ErrorType",
    "FriendlyText",
    "error",
)

unicode_text = st.text(st.characters(codec="utf-8"), max_size=40)  # no lone surrogates
huge_text = st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(1_000, 30_000))
# Strings a vendor could also send: ids, blanks, kinds, statuses, timestamps, HTML.
telling_text = st.sampled_from(
    [
        "",
        " ",
        "\t\n",
        "0",
        "1",
        "-1",
        "2147483648",
        "3652397000000186017",
        "99999999999999999999",
        "users",
        "roles",
        "groups",
        "territories",
        "error",
        "success",
        "SCHEDULED",
        "completed",
        "failed",
        "pending",
        "DUPLICATE_DATA",
        "INVALID_DATA",
        "INVALID_TOKEN",
        "2023-09-25T10:14:05+05:30",
        "2023-13-45T99:99:99",
        "<html><title>502 Bad Gateway</title></html>",
        "duplicate key",
        "\ud800",  # a lone surrogate, as JSON's "\\ud800" escape parses
        "\x00",
    ]
)
json_text = st.one_of(unicode_text, telling_text, huge_text)
json_ints = st.one_of(
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, -(2**31) - 1, 2**63]),
    st.builds(pow, st.just(10), st.just(4299)),  # the longest int Python's json reads
)
json_floats = st.floats(allow_nan=True, allow_infinity=True)  # Python's json reads NaN too
json_scalars = st.one_of(st.none(), st.booleans(), json_ints, json_floats, json_text)
json_keys = st.one_of(st.sampled_from(VENDOR_KEYS), unicode_text)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(json_keys, children, max_size=8),
    ),
    max_leaves=25,
)


def _seed(name: str) -> Any:
    return json.loads((SEEDS / name).read_text())


ZOHO_GROUP = {
    "created_time": "2023-09-25T10:14:05+05:30",
    "modified_time": "2023-09-25T10:14:05+05:30",
    "name": "test group",
    "description": "my group",
    "id": "3652397000009949005",
}
ZOHO_SOURCES = _seed("zoho-create-request.json")["user_groups"][0]["sources"]
ZOHO_MEMBERS_PAGE = {
    "sources": ZOHO_SOURCES,
    "info": {"per_page": 200, "page": 1, "more_records": False},
}
ZOHO_GROUP_PAGE = {
    "user_groups": [{**ZOHO_GROUP, "sources": ZOHO_SOURCES}, ZOHO_GROUP],
    "info": {"per_page": 200, "count": 2, "page": 1, "more_records": True},
}
ZOHO_SINGLE = {"user_groups": [ZOHO_GROUP]}
ZOHO_ENTRIES = [
    _seed("zoho-create-response.json"),
    _seed("zoho-update-response.json"),
    {
        "user_groups": [
            {
                "code": "SCHEDULED",
                "details": {"job_id": "3652397000009949011"},
                "message": "deletion scheduled",
                "status": "success",
            }
        ]
    },
    {
        "user_groups": [
            {
                "code": "DUPLICATE_DATA",
                "details": {"api_name": "name"},
                "message": "duplicate data",
                "status": "error",
            }
        ]
    },
]
ZOHO_JOB = {"deletion_jobs": [{"id": "3652397000009949011", "Status": "completed"}]}
ZOHO_ERROR = {
    "code": "INVALID_DATA",
    "details": {"resource_path_index": 0},
    "message": "the id given seems to be invalid",
    "status": "error",
}
ZOHO_ANSWERS: list[Any] = [
    _seed("zoho-create-request.json"),
    _seed("zoho-update-request.json"),
    {**ZOHO_GROUP, "sources": ZOHO_SOURCES},
    ZOHO_MEMBERS_PAGE,
    ZOHO_GROUP_PAGE,
    ZOHO_SINGLE,
    *ZOHO_ENTRIES,
    ZOHO_JOB,
    ZOHO_ERROR,
]
SO_CARRIER = _seed("superoffice-put-response.json")
SO_REQUEST = _seed("superoffice-put-request.json")
SO_ERRORS = [
    {"Message": "You do not have the right to change user groups.", "ExceptionType": "SoAccess"},
    {"Error": True, "ErrorType": "DuplicateKey", "Message": "duplicate", "ExceptionType": "x"},
]
SO_ANSWERS: list[Any] = [SO_REQUEST, SO_CARRIER, [SO_CARRIER, SO_REQUEST], *SO_ERRORS]
REAL_ANSWERS = ZOHO_ANSWERS + SO_ANSWERS


def _slots(data: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in ``data``, the places a mutation may hit."""
    found: list[tuple[Any, Any]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            found.append((data, key))
            found.extend(_slots(value))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.append((data, index))
            found.extend(_slots(value))
    return found


def _retyped(value: Any) -> list[Any]:
    """The same value in another JSON type."""
    return [
        "",
        " ",
        "\ud800",  # a lone surrogate
        None,
        str(value)[:100] if not isinstance(value, (dict, list)) else json.dumps(value)[:100],
        [value],
        {"value": value},
        1 if isinstance(value, str) else "1",
        not value if isinstance(value, bool) else True,
        float(value) if type(value) is int and abs(value) < 2**1000 else 1.5,
        *(2**31, -(2**31) - 1, 2**63, 0, -1),  # just outside what an int32 or a uint64 holds
    ]


@st.composite
def mutated_answers(draw: st.DrawFn, samples: list[Any] = REAL_ANSWERS) -> Any:
    """A real answer with one to three fields deleted, retyped or replaced."""
    data = copy.deepcopy(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(data)
        if not slots:
            return draw(json_values)
        container, key = draw(st.sampled_from(slots))
        operation = draw(st.sampled_from(["delete", "retype", "replace", "add"]))
        if operation == "delete":
            del container[key]
        elif operation == "retype":
            container[key] = draw(st.sampled_from(_retyped(container[key])))
        elif operation == "replace":
            container[key] = draw(json_values)
        elif isinstance(container, dict):
            container[draw(json_keys)] = draw(json_values)
        else:
            container.append(draw(json_values))
    return data


@st.composite
def shaped_like(draw: st.DrawFn, sample: Any) -> Any:
    """``sample`` with any field, at any depth, perhaps dropped, retyped or replaced."""

    def walk(value: Any) -> Any:
        fate = draw(st.integers(0, 19))  # hypothesis favours 0: mostly the real value
        if fate == 18:
            return draw(st.sampled_from(_retyped(value)))
        if fate == 19:
            return draw(st.one_of(telling_text, json_values))
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items() if draw(st.integers(0, 19)) != 17}
        if isinstance(value, list):
            return [walk(v) for v in value if draw(st.integers(0, 19)) != 17]
        return value

    return walk(sample)


def _answers(samples: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        json_values,
        mutated_answers(samples),
        st.sampled_from(samples).flatmap(shaped_like),
        st.sampled_from(samples),
    )


vendor_json = _answers(REAL_ANSWERS)
error_bodies = st.one_of(vendor_json, json_text)  # the transport hands text bodies as str


def _only_unigroups_errors(call: Callable[[], Any], allowed: type[Exception]) -> Any:
    try:
        return call()
    except allowed:
        return None
    except UnigroupsError as exc:
        pytest.fail(f"{type(exc).__name__} where only {allowed.__name__} was expected: {exc}")


# -- the wire modules --------------------------------------------------------------------


def _zoho_entries(data: Any) -> None:
    for entry in zoho_wire.answer_entries(data, 1):
        error = zoho_wire.entry_error(entry, 400, data)
        assert isinstance(error, BackendError)
        str(error), repr(error)


def _superoffice_round_trip(data: Any) -> None:
    group = so_wire.group_from_carrier(data)
    assert group.id is not None and 1 <= int(group.id) <= so_wire.INT32_MAX
    # What was read can be sent back: an update PUTs the group it read, changed.
    assert so_wire.carrier_for(group)["Value"] == group.name
    so_wire.rights_of(group)


# Each reader with the answers it is meant for, so that the fuzzing gets past its first check.
READERS: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
    "zoho.group_from_zoho": (zoho_wire.group_from_zoho, [{**ZOHO_GROUP, "sources": ZOHO_SOURCES}]),
    "zoho.group_from_zoho+members": (lambda d: zoho_wire.group_from_zoho(d, []), [ZOHO_GROUP]),
    "zoho.members_from_answer": (zoho_wire.members_from_answer, [ZOHO_MEMBERS_PAGE]),
    "zoho.groups_page": (
        lambda d: [zoho_wire.group_from_zoho(item) for item in zoho_wire.groups_page(d)[0]],
        [ZOHO_GROUP_PAGE],
    ),
    "zoho.sources_page_more": (zoho_wire.sources_page_more, [ZOHO_MEMBERS_PAGE]),
    "zoho.single_group": (
        lambda d: zoho_wire.group_from_zoho(zoho_wire.single_group(d), []),
        [ZOHO_SINGLE],
    ),
    "zoho.single_name": (lambda d: zoho_wire.single_name(zoho_wire.single_group(d)), [ZOHO_SINGLE]),
    "zoho.deletion_job_status": (zoho_wire.deletion_job_status, [ZOHO_JOB]),
    "zoho.answer_entries": (_zoho_entries, ZOHO_ENTRIES),
    "superoffice.group_from_carrier": (_superoffice_round_trip, [SO_CARRIER, SO_REQUEST]),
    "superoffice.groups_from_list": (so_wire.groups_from_list, [[SO_CARRIER, SO_REQUEST]]),
    "superoffice.rights_of": (
        lambda d: so_wire.rights_of(Group(name="x", raw=d)),
        [SO_CARRIER, SO_REQUEST],
    ),
}


READER_ANSWERS = {name: _answers(samples) for name, (_read, samples) in READERS.items()}


@pytest.mark.parametrize("reader", sorted(READERS))
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_wire_reads_malformed_answers_as_backend_errors(reader: str, data: st.DataObject) -> None:
    # What comes from the vendor can only be the vendor's fault: a BackendError (never a
    # ValidationError, which means "your input", nor a KeyError, TypeError...).
    # An answer the reader cannot take is a DecodingError: not what the vendor sends.
    read, _samples = READERS[reader]
    answer = data.draw(READER_ANSWERS[reader], label="answer")
    _only_unigroups_errors(lambda: read(answer), DecodingError)


@settings(FUZZ, max_examples=100)
@given(data=vendor_json)
# Answers that once gave a ValidationError (meant for the caller's input) instead of a
# BackendError: a blank member id, a rank that an update could not send back.
@example(data={"sources": [{"source": {"id": " "}, "type": "users"}]})
@example(data={**ZOHO_GROUP, "sources": [{"source": {"id": ""}, "type": "roles"}]})
@example(
    data={"user_groups": [{**ZOHO_GROUP, "sources": [{"source": {"id": " "}, "type": "groups"}]}]}
)
@example(data={**SO_REQUEST, "Rank": 2**31})
@example(data=[{**SO_CARRIER, "Rank": -(2**31) - 1}])
def test_every_reader_takes_any_json(data: Any) -> None:
    for read, _samples in READERS.values():
        _only_unigroups_errors(partial(read, data), DecodingError)


@pytest.mark.parametrize("parse", [zoho_wire.parse_error, so_wire.parse_error])
@settings(FUZZ, max_examples=120)
@given(
    status=st.one_of(st.sampled_from([400, 401, 403, 404, 409, 422, 429, 500, 503]), st.integers()),
    body=error_bodies,
)
def test_parse_error_never_raises(
    parse: Callable[[int, Any], VendorError], status: int, body: Any
) -> None:
    info = parse(status, body)  # any body at all, and no exception
    assert isinstance(info, VendorError)
    assert isinstance(info.message, str)
    assert info.code is None or isinstance(info.code, str)
    assert info.kind is None or issubclass(info.kind, BackendError)
    # The transport builds its error from it: that must work and print too.
    error = build_error(
        info.kind,
        info.message,
        backend="x",
        status=status,
        code=info.code,
        details=dict(info.details),
        raw=body,
    )
    str(error), repr(error)


# -- the transport, through real backend calls -------------------------------------------

STATUSES = [200, 201, 204, 400, 401, 403, 404, 409, 429, 500, 503]
ZOHO_URL = re.compile(r"https://www\.zohoapis\.eu/.*")
SO_BASE = "https://crm.example.com/api/v1"
SO_URL = re.compile(r"https://crm\.example\.com/.*")

# aioresponses feeds a mocked body through a reader that cannot pause: above 128 KiB it
# fails inside aiohttp. Longer bodies go through a real server on 127.0.0.1 further down.
MOCKABLE = 100_000

bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=300),  # mostly invalid UTF-8
    unicode_text.map(str.encode),  # text that is not JSON
    telling_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    vendor_json.map(lambda d: json.dumps(d).encode()),
    vendor_json.map(lambda d: json.dumps(d, ensure_ascii=False).encode("utf-8", "replace")),
    st.sampled_from(REAL_ANSWERS).map(lambda d: json.dumps(d).encode()),
    st.sampled_from(
        [
            b"1" * 5000,  # more digits than Python's int conversion allows
            b"[" * 90_000,  # nesting beyond the recursion limit
            b'{"user_groups":' * 6_000,
            b"[" * 900 + b"]" * 900,  # parses, but too deep for the recursive code after it
            b'{"a":' * 600 + b"1" + b"}" * 600,
            b'"' + b"x" * 90_000 + b'"',
            b"\xef\xbb\xbf{}",  # a BOM
            b"\xff\xfe{\x00}\x00",  # UTF-16
            b"NaN",
            b"null",
            b"<html><title>503 Service Unavailable</title></html>",
        ]
    ),
).map(lambda body: body[:MOCKABLE])
retry_after = st.one_of(
    st.none(),
    st.sampled_from(["0", "-5", "1e400", "nan", "inf", "Wed, 21 Oct 2015 07:28:00 GMT", "soon"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)
answers = st.lists(
    st.tuples(st.sampled_from(STATUSES), bodies, retry_after), min_size=1, max_size=6
)


def _responder(script: list[tuple[int, bytes, str | None]]) -> Callable[..., CallbackResult]:
    queue = list(script)

    def answer(_url: Any, **_kw: Any) -> CallbackResult:
        if not queue:  # the script is over: a 500 ends any paging or polling loop
            return CallbackResult(status=500, body=b"")
        status, body, wait = queue.pop(0)
        headers = {"Retry-After": wait} if wait is not None else {}
        return CallbackResult(status=status, body=body, headers=headers)

    return answer


async def _collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


PATRICIA = Member(MemberKind.USER, "3652397000000186017", name="Patricia Boyle")
MANAGER = Member(MemberKind.ROLE, "3652397000000026008", include_subordinates=True)

ZOHO_CALLS: dict[str, Callable[[ZohoBackend], Any]] = {
    "get": lambda b: b.get("3652397000009949005"),
    "groups": lambda b: _collect(b.groups()),
    "members": lambda b: _collect(b.members("3652397000009949005")),
    "find": lambda b: b.find("test group"),
    "create": lambda b: b.create(Group(name="test group", members=(PATRICIA, MANAGER))),
    "delete": lambda b: b.delete("3652397000009949005"),
    "update": lambda b: b.update("1", GroupChanges(name="n", add=(PATRICIA,), remove=(MANAGER,))),
    "update-unnamed": lambda b: b.update("1", GroupChanges(description=None)),
}
SO_CALLS: dict[str, Callable[[SuperOfficeBackend], Any]] = {
    "get": lambda b: b.get("147"),
    "groups": lambda b: _collect(b.groups(include_inactive=True)),
    "find": lambda b: b.find("velit"),
    "create": lambda b: b.create(Group(name="velit", description="rem", rank=3)),
    "update": lambda b: b.update("147", GroupChanges(name="vel", description=None, rank=5)),
    "deactivate": lambda b: b.update("147", GroupChanges(active=False)),
    "delete": lambda b: b.delete("147"),
}


async def _run(backend: Any, url: re.Pattern[str], call: Callable[[Any], Any], script: Any) -> Any:
    respond = _responder(script)
    async with backend:
        with aioresponses() as mocked:
            for method in ("GET", "POST", "PUT", "DELETE"):
                mocked.add(url, method=method, callback=respond, repeat=True)
            try:
                return await call(backend)
            except BackendError:
                return None  # the vendor's fault, reported as such
            except UnigroupsError as exc:
                pytest.fail(f"a vendor answer gave {type(exc).__name__}: {exc}")


@pytest.mark.slow  # a real server, 120+ answers
@settings(FUZZ, max_examples=150)
@given(operation=st.sampled_from(sorted(ZOHO_CALLS)), script=answers)
def test_zoho_backend_survives_any_answer(
    operation: str, script: list[tuple[int, bytes, str | None]]
) -> None:
    backend = open_backend(
        "zoho",
        dc="eu",
        access_token="t",
        max_attempts=1,
        delete_job_timeout=0.05,
        delete_job_poll_interval=0.001,
    )
    result = asyncio.run(_run(backend, ZOHO_URL, ZOHO_CALLS[operation], script))
    if operation in ("get", "create", "update", "update-unnamed"):
        assert result is None or isinstance(result, Group)


@pytest.mark.slow  # a real server, 120+ answers
@settings(FUZZ, max_examples=120)
@given(operation=st.sampled_from(sorted(SO_CALLS)), script=answers)
def test_superoffice_backend_survives_any_answer(
    operation: str, script: list[tuple[int, bytes, str | None]]
) -> None:
    backend = open_backend(
        "superoffice", base_url=SO_BASE, username="u", password="p", max_attempts=1
    )
    result = asyncio.run(_run(backend, SO_URL, SO_CALLS[operation], script))
    if operation in ("get", "create", "update", "deactivate"):
        assert result is None or isinstance(result, Group)


HUGE_BODIES = {
    "long-int": b"1" * 5000,  # more digits than Python converts to an int
    "deep-array": b"[" * 200_000,  # beyond the recursion limit of the JSON parser
    "deep-but-parsed": b"[" * 900 + b"]" * 900,  # parses; too deep for what comes after
    "deep-object": b'{"user_groups":' * 900 + b"[]" + b"}" * 900,
    "deep-entries": b'{"user_groups":[{"code":"X","status":"error","details":'
    + b'{"a":' * 900
    + b"1"
    + b"}" * 901
    + b"]}",
    "huge-text": b"<html>" + b"x" * 5_000_000,
    "huge-string": b'{"message":"' + "é".encode() * 2_000_000 + b'"}',
    "invalid-utf8": b'{"message":"\xff\xfe"}',
}


@pytest.mark.parametrize("body", list(HUGE_BODIES.values()), ids=list(HUGE_BODIES))
@pytest.mark.parametrize("status", [200, 400, 500])
async def test_huge_and_deep_bodies_from_a_real_server(body: bytes, status: int) -> None:
    # A real aiohttp server on 127.0.0.1, so that bodies of megabytes go through the real
    # response reader (aioresponses cannot carry them).
    async def answer(_request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with serve(app) as server:
        zoho = open_backend("zoho", api_domain=server, access_token="t", max_attempts=1)
        office = open_backend(
            "superoffice", base_url=f"{server}/api/v1", username="u", password="p", max_attempts=1
        )
        for call in (
            lambda: zoho.get("1"),
            lambda: zoho.create(Group(name="g")),
            lambda: zoho.delete("1"),
            lambda: office.get("1"),
            lambda: office.create(Group(name="g")),
        ):
            async with zoho, office:
                with pytest.raises(BackendError) as caught:
                    await call()
            assert caught.value.status in (None, status)
            str(caught.value), repr(caught.value)


async def test_a_lone_surrogate_in_a_name_is_refused_before_anything_is_sent() -> None:
    # A lone surrogate is a valid str (JSON's "\\ud800" escape reads as one), but no vendor
    # can store it: the model refuses it, so no request is ever made with it.
    async with open_backend("zoho", dc="eu", access_token="t", max_attempts=1) as zoho:
        with aioresponses() as mocked:
            with pytest.raises(ValidationError, match="lone surrogate U\\+D800") as info:
                await zoho.create(Group(name="bad \ud800 name"))
            assert not mocked.requests
    assert info.value.field == "name"


# -- random user input to the models -----------------------------------------------------

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),  # surrogates included: a str is a str
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from([*MemberKind, UNSET, datetime(2024, 1, 1, tzinfo=UTC), " ", ""]),
    st.builds(object),
)
ids = st.one_of(st.from_regex(r"[0-9]{1,19}", fullmatch=True), st.text(max_size=10))
valid_members = st.builds(
    lambda kind, id_, name, sub: Member(
        kind, id_, name=name, include_subordinates=sub and kind in (MemberKind.ROLE, "territory")
    ),
    st.sampled_from(MemberKind),
    st.from_regex(r"[0-9]{1,19}", fullmatch=True),
    st.none() | st.text(max_size=10),
    st.booleans(),
)
member_lists = st.one_of(
    anything, st.lists(valid_members, max_size=4), st.lists(st.one_of(valid_members, anything))
).map(lambda v: tuple(v) if isinstance(v, list) and len(v) % 2 else v)


@settings(FUZZ, max_examples=150)
@given(
    kind=st.one_of(anything, st.sampled_from(["user", "role", "ROLE"])),
    id_=st.one_of(anything, ids),
    name=anything,
    sub=anything,
)
def test_member_accepts_or_raises_validation_error(
    kind: Any, id_: Any, name: Any, sub: Any
) -> None:
    member = _only_unigroups_errors(
        lambda: Member(kind, id_, name=name, include_subordinates=sub), ValidationError
    )
    if member is not None:
        assert isinstance(member.kind, MemberKind)
        assert isinstance(member.id, str) and member.id.strip()
        assert member.name is None or isinstance(member.name, str)
        assert type(member.include_subordinates) is bool
        hash(member)


@settings(FUZZ, max_examples=120)
@given(
    name=st.one_of(anything, st.text(max_size=300)),
    description=anything,
    members=member_lists,
    id_=st.one_of(anything, ids),
    active=anything,
    rank=anything,
    created_at=anything,
    backend=anything,
    raw=anything,
)
def test_group_accepts_or_raises_validation_error(
    name: Any,
    description: Any,
    members: Any,
    id_: Any,
    active: Any,
    rank: Any,
    created_at: Any,
    backend: Any,
    raw: Any,
) -> None:
    group = _only_unigroups_errors(
        lambda: Group(
            name=name,
            description=description,
            members=members,
            id=id_,
            active=active,
            rank=rank,
            created_at=created_at,
            modified_at=created_at,
            backend=backend,
            raw=raw,
        ),
        ValidationError,
    )
    if group is not None:
        assert isinstance(group.name, str) and group.name.strip()
        assert group.members is None or all(isinstance(m, Member) for m in group.members)
        assert type(group.active) is bool
        assert group.rank is None or type(group.rank) is int


@settings(FUZZ, max_examples=120)
@given(
    name=anything,
    description=anything,
    add=member_lists,
    remove=member_lists,
    active=anything,
    rank=anything,
)
def test_group_changes_accept_or_raise_validation_error(
    name: Any, description: Any, add: Any, remove: Any, active: Any, rank: Any
) -> None:
    changes = _only_unigroups_errors(
        lambda: GroupChanges(
            name=name, description=description, add=add, remove=remove, active=active, rank=rank
        ),
        ValidationError,
    )
    if changes is not None:
        bool(changes)
        assert not {m.key for m in changes.add} & {m.key for m in changes.remove}


# What a name or description may hold: no control characters, no lone surrogates.
plain_text = st.characters(exclude_categories=("Cc", "Cs"))
valid_groups = st.builds(
    Group,
    name=st.text(plain_text, min_size=1, max_size=300).filter(str.strip),
    description=st.none() | st.text(plain_text, max_size=300),
    members=st.none() | st.lists(valid_members, max_size=4, unique_by=lambda m: m.key),
    id=st.none() | st.from_regex(r"[0-9]{1,19}", fullmatch=True),
    active=st.booleans(),
    rank=st.none() | st.integers(),
)
valid_changes = st.builds(
    lambda name, description, members, split, active, rank: GroupChanges(
        name=name,
        description=description,
        add=members[:split],
        remove=members[split:],
        active=active,
        rank=rank,
    ),
    st.none() | st.text(plain_text, min_size=1, max_size=300).filter(str.strip),
    st.sampled_from([UNSET, None]) | st.text(plain_text, max_size=300),
    st.lists(valid_members, max_size=4, unique_by=lambda m: m.key),
    st.integers(0, 4),
    st.none() | st.booleans(),
    st.none() | st.integers(),
)
capabilities = st.one_of(
    st.sampled_from(
        [ZohoBackend.capabilities, SuperOfficeBackend.capabilities, MemoryBackend.capabilities]
    ),
    st.builds(
        Capabilities,
        member_kinds=st.frozensets(st.sampled_from(MemberKind)),
        subordinates=st.booleans(),
        hard_delete=st.booleans(),
        rank=st.booleans(),
        name_max_length=st.none() | st.integers(0, 300),
        description_max_length=st.none() | st.integers(0, 300),
        max_batch=st.integers(1, 100),
    ),
)


@settings(FUZZ, max_examples=120)
@given(caps=capabilities, group=valid_groups, changes=valid_changes, other=valid_groups)
def test_capabilities_refuse_only_with_validation_or_unsupported(
    caps: Capabilities, group: Group, changes: GroupChanges, other: Group
) -> None:
    refused = (ValidationError, UnsupportedOperationError)
    with contextlib.suppress(*refused):
        caps.check_group(group)
    with contextlib.suppress(*refused):
        caps.check_changes(changes)
    # Diffing and applying changes between any two valid groups works.
    diff = GroupChanges.between(group, other)
    after = diff.apply_to(group)
    assert (after.name, after.description, after.active) == (
        other.name,
        other.description,
        other.active,
    )
    _only_unigroups_errors(lambda: changes.apply_to(group), ValidationError)


# -- random options to open_backend ------------------------------------------------------

BACKENDS = ("zoho", "superoffice", "memory")
OPTION_NAMES = sorted(
    {a.name for name in BACKENDS for a in attrs.fields(backend_class(name).config_class)}
)
option_values = st.one_of(
    anything,
    st.sampled_from(
        [
            "eu",
            "us",
            "xx",
            "v8",
            "v5",
            "t",
            "https://crm.example.com/api/v1",
            "http://crm.example.com/api/v1",
            "http://127.0.0.1:8080",
            "https://",
            "sod",
            "Cust12345",
            "fr",
            "en-gb",
            "UTC",
            "not a tz",
            0,
            -1,
            1,
            5,
            101,
            10**400,
            1e400,
            -1e400,
            math.nan,
            "5",
            "-3",
            ("done",),
            ["completed", 1],
            lambda: None,
        ]
    ),
)
option_keys = st.one_of(
    st.sampled_from(OPTION_NAMES),
    st.text(max_size=15),
    st.sampled_from([1, None, True, 2.5, ("dc",), b"dc"]),  # keys a config file may hold
)


def _open(name: str, options: Any, kwoptions: dict[str, Any]) -> Any:
    return _only_unigroups_errors(
        lambda: open_backend(name, options, **kwoptions), ConfigurationError
    )


@settings(FUZZ, max_examples=200)
@given(
    name=st.sampled_from(BACKENDS),
    options=st.dictionaries(option_keys, option_values, max_size=6),
    kwoptions=st.dictionaries(st.sampled_from(OPTION_NAMES), option_values, max_size=3),
)
@example(name="zoho", options={1: "eu"}, kwoptions={})  # once a TypeError from difflib
def test_open_backend_raises_only_configuration_error(
    name: str, options: dict[Any, Any], kwoptions: dict[str, Any]
) -> None:
    backend = _open(name, options, kwoptions)
    if backend is not None:  # nothing was opened yet: there is nothing to close
        assert isinstance(backend, backend_class(name))  # type: ignore[arg-type]


@settings(FUZZ, max_examples=100)
@given(
    name=st.sampled_from(BACKENDS),
    base=st.fixed_dictionaries(
        {},
        optional={
            "dc": st.just("eu"),
            "access_token": st.sampled_from(["t", "tok", ""]),
            "base_url": st.just(SO_BASE),
            "username": st.sampled_from(["u", ""]),
            "password": st.sampled_from(["p", ""]),
            "page_size": st.sampled_from([1, 100]),
        },
    ),
    extra=st.dictionaries(st.sampled_from(OPTION_NAMES), option_values, max_size=3),
)
def test_nearly_valid_options_raise_only_configuration_error(
    name: str, base: dict[str, Any], extra: dict[str, Any]
) -> None:
    # Close to a valid configuration, so that the config classes' own checks are reached.
    _open(name, {**base, **extra}, {})


@settings(FUZZ, max_examples=60)
@given(name=st.sampled_from(BACKENDS), options=anything.filter(lambda v: v is not None))
def test_options_that_are_not_a_mapping_are_a_configuration_error(name: str, options: Any) -> None:
    _open(name, options, {})
