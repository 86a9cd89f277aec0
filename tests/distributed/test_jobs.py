"""Jobs kept in Redis (a real redis-server): job ids, routing by group, what ``store_job``
writes (and leaves behind when it refuses a job: nothing), running parts in process on a
MemoryBackend, the report, and Celery's producer side without any worker."""

import base64
import json
import math
import re
import socket
import zlib
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from celery import Celery

from unigroups import ConfigurationError, Group, JournalError, ValidationError
from unigroups.backends.memory import MemoryBackend
from unigroups.distributed import celery as celery_module
from unigroups.distributed.celery import CeleryJobs
from unigroups.distributed.codec import loads_operation
from unigroups.distributed.jobs import job_report, part_of, part_operations, run_part, store_job
from unigroups.distributed.keys import JobKeys, check_job_id
from unigroups.distributed.limiter import RedisThrottle
from unigroups.models import GroupChanges, Member
from unigroups.operations import Create, Delete, Operation, Update
from unigroups.testing.celery_app import make_jobs
from unigroups.testing.faults import FaultPolicy
from unigroups.testing.server import ThreadedServer
from unigroups.testing.zoho_emulator import ZohoEmulator

TOKEN = "s3cret-token-XYZ"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
async def aclient(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def dump(client: redis.Redis) -> dict[bytes, Any]:
    """Every key in Redis and its value (strings, lists, hashes, sets)."""
    found: dict[bytes, Any] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            found[key] = client.get(key)
        elif kind == b"list":
            found[key] = client.lrange(key, 0, -1)
        elif kind == b"hash":
            found[key] = client.hgetall(key)
        elif kind == b"set":
            found[key] = client.smembers(key)
        elif kind == b"zset":
            found[key] = client.zrange(key, 0, -1, withscores=True)
        else:
            raise AssertionError(f"{key!r} is a {kind!r}: dump it too")
    return found


def stored(client: redis.Redis, keys: JobKeys, part: int) -> list[tuple[int, Operation]]:
    items = [json.loads(raw) for raw in client.lrange(keys.operations(part), 0, -1)]
    return [(number, loads_operation(json.dumps(op))) for number, op in items]


# -- job ids --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["", "a" * 129, "two words", "a\nb", "a\x00", "tab\there", "-lead", None, 7, b"abc"]
)
def test_a_job_id_that_cannot_name_keys_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError, match="is not a job id") as info:
        check_job_id(bad)
    assert info.value.field == "job_id"
    with pytest.raises(ValidationError, match="is not a job id"):
        JobKeys(bad)


def test_a_uuid_and_the_longest_id_are_job_ids() -> None:
    assert check_job_id("3f2b9c4e5d6a47b8a9c0d1e2f3a4b5c6") == "3f2b9c4e5d6a47b8a9c0d1e2f3a4b5c6"
    assert check_job_id("a" * 128) == "a" * 128
    assert check_job_id("nightly-2024.01:run_2") == "nightly-2024.01:run_2"
    assert JobKeys("j1").operations(3) == "unigroups:job:j1:ops:3"


# -- routing --------------------------------------------------------------------------------


def test_every_operation_on_one_group_lands_in_one_part() -> None:
    for parts in (1, 2, 7, 16, 10_000):
        by_id = {
            part_of(op, parts)
            for op in (
                Update("42", GroupChanges(name="x")),
                Update("42", GroupChanges(rank=3)),
                Delete("42"),
            )
        }
        assert len(by_id) == 1
        # names that differ only in case (even by case folding: long s, sharp s)
        by_name = {
            part_of(Create(Group(name)), parts)
            for name in ("Straße Sales", "STRASSE SALES", "stra\u017fse sales")
        }
        assert len(by_name) == 1
        assert all(0 <= p < parts for p in by_id | by_name)


def test_routing_is_fixed_across_versions() -> None:
    def crc(text: str) -> int:
        return zlib.crc32(text.encode("utf-8"))

    assert part_of(Update("42", GroupChanges(rank=1)), 16) == crc("id:42") % 16
    assert part_of(Delete("42"), 16) == crc("id:42") % 16
    assert part_of(Create(Group("Straße Sales")), 16) == crc("name:strasse sales") % 16
    assert part_of(Create(Group("Ünïcode ☃")), 7) == crc("name:ünïcode ☃") % 7
    assert part_of(Delete("42"), 1) == 0
    # and different groups do spread
    assert len({part_of(Delete(str(i)), 16) for i in range(200)}) == 16


# -- storing a job --------------------------------------------------------------------------


def mixed_operations() -> list[Operation]:
    return [
        Create(Group("Sales", members=[Member("role", "r1", include_subordinates=True)])),
        Update("7", GroupChanges(name="Seven")),
        Create(Group("Support")),
        Delete("7"),
        Update("8", GroupChanges(description=None)),
        Create(Group("Marketing", description="m")),
        Update("7", GroupChanges(rank=2)),
    ]


def test_operations_are_stored_by_part_in_input_order(client: redis.Redis) -> None:
    keys = JobKeys("job1")
    ops = mixed_operations()
    used = store_job(client, keys, iter(ops), target="org0", parts=4, keep_for=60)
    expected: dict[int, list[tuple[int, Operation]]] = {}
    for number, op in enumerate(ops):
        expected.setdefault(part_of(op, 4), []).append((number, op))
    assert used == sorted(expected)
    for part in range(4):
        assert stored(client, keys, part) == expected.get(part, [])
    raw: Any = client.lindex(keys.operations(used[0]), 0)
    assert raw.startswith(f"[{expected[used[0]][0][0]},{{".encode())
    assert client.hgetall(keys.meta) == {b"target": b"org0", b"parts": b"4", b"total": b"7"}
    for key in (keys.meta, *(keys.operations(part) for part in used)):
        assert 0 < client.pttl(key) <= 60_000, key
    assert set(dump(client)) == {keys.meta.encode(), *(keys.operations(p).encode() for p in used)}


def test_while_a_job_is_stored_its_keys_expire_and_its_report_waits(client: redis.Redis) -> None:
    keys = JobKeys("job1")
    seen: dict[str, Any] = {}

    def operations() -> Iterator[Operation]:
        yield from (Create(Group(f"g{i}")) for i in range(1001))  # one page written
        # as if the producer died here: nothing it wrote may live forever
        seen["ttls"] = {key: client.pttl(key) for key in client.scan_iter()}
        with pytest.raises(ValidationError, match="the job 'job1' is still being stored"):
            job_report(client, keys)
        seen["checked"] = True
        yield Delete("1")

    store_job(client, keys, operations(), target="org0", parts=3, keep_for=60)
    assert seen["checked"] and len(seen["ttls"]) >= 2
    assert all(0 < ttl <= 60_000 for ttl in seen["ttls"].values()), seen["ttls"]


def test_a_job_of_no_operations_is_stored_with_no_parts(client: redis.Redis) -> None:
    keys = JobKeys("empty")
    assert store_job(client, keys, [], target="org0") == []
    assert client.hgetall(keys.meta) == {b"target": b"org0", b"parts": b"16", b"total": b"0"}
    report = job_report(client, keys)
    assert (report.job_id, report.target, report.outcomes, report.ok) == ("empty", "org0", (), True)


def test_a_job_id_in_use_is_refused_and_the_first_job_is_untouched(client: redis.Redis) -> None:
    keys = JobKeys("job1")
    store_job(client, keys, mixed_operations(), target="org0", parts=4)
    before = dump(client)
    with pytest.raises(ValidationError, match="the job 'job1' exists already") as info:
        store_job(client, keys, [Create(Group("Other"))], target="org1", parts=2)
    assert info.value.field == "job_id"
    assert dump(client) == before


def test_a_job_id_whose_journal_is_still_kept_is_refused(client: redis.Redis) -> None:
    # Its operations expired, but the states of its run did not: a new job under this id
    # would read them and skip its own operations as done.
    keys = JobKeys("job1")
    client.hset(keys.states, "create:Sales", '{"key": "create:Sales", "state": "done"}')
    with pytest.raises(ValidationError, match="the job 'job1' exists already"):
        store_job(client, keys, [Create(Group("Sales"))], target="org0")
    assert client.exists(keys.meta, keys.operations(part_of(Create(Group("Sales")), 16))) == 0


def many_then(bad: object, count: int = 1001) -> Iterator[Any]:
    """``count`` operations (more than one page: some are written already), then ``bad``."""
    for i in range(count):
        yield Create(Group(f"g{i}"))
    yield bad
    yield Create(Group("never read"))


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        (many_then("not an operation"), "operation 1001 is a str, not a Create"),
        (many_then(Group("a group")), "operation 1001 is a Group"),
        (many_then(Create(Group("g3"))), "two operations share the key 'create:g3'"),
        ([Delete("1"), Delete("1")], "two operations share the key 'delete:1'"),
    ],
)
def test_a_refused_job_leaves_nothing_in_redis(
    client: redis.Redis, items: Any, fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment) as info:
        store_job(client, JobKeys("job1"), items, target="org0", parts=3)
    assert info.value.field == "operations"
    assert dump(client) == {}
    # and the id is free again
    assert store_job(client, JobKeys("job1"), [Delete("1")], target="org0", parts=3) == [
        part_of(Delete("1"), 3)
    ]


def test_an_iterator_that_fails_leaves_nothing_and_its_error_goes_through(
    client: redis.Redis,
) -> None:
    def failing() -> Iterator[Operation]:
        yield from (Create(Group(f"g{i}")) for i in range(1001))
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        store_job(client, JobKeys("job1"), failing(), target="org0", parts=5)
    assert dump(client) == {}


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"parts": 0}, "parts: must be an int from 1 to 10000, not 0"),
        ({"parts": True}, "parts: must be an int from 1 to 10000, not True"),
        ({"parts": 10_001}, "not 10001"),
        ({"parts": 2.0}, "not 2.0"),
        ({"keep_for": -1}, "keep_for: must be above 0, not -1"),
        ({"keep_for": 0}, "keep_for: must be above 0"),
        ({"keep_for": math.nan}, "keep_for: must be a number of seconds, not nan"),
        ({"keep_for": math.inf}, "keep_for: must be a number of seconds, not inf"),
        ({"keep_for": True}, "keep_for: must be a number of seconds"),
        ({"keep_for": "60"}, "keep_for: must be a number of seconds"),
        ({"target": ""}, "target: must be a target's name"),
        ({"target": None}, "target: must be a target's name"),
        ({"operations": "create:a"}, "operations: must be an iterable of operations, not str"),
        ({"operations": 5}, "must be an iterable of operations, not int"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(
    client: redis.Redis, options: dict[str, Any], fragment: str
) -> None:
    read: list[int] = []

    def operations() -> Iterator[Operation]:
        read.append(1)
        yield Delete("1")

    arguments: dict[str, Any] = {"operations": operations(), "target": "org0", **options}
    with pytest.raises(ValidationError) as info:
        store_job(client, JobKeys("job1"), **arguments)
    assert fragment in str(info.value)
    assert read == []
    assert dump(client) == {}


# -- running parts and the report -----------------------------------------------------------


async def test_running_every_part_does_every_operation_and_the_report_says_so(
    client: redis.Redis, aclient: aioredis.Redis
) -> None:
    backend = MemoryBackend()
    existing = await backend.create(Group("Old"))  # id "1"
    ops: list[Operation] = [
        *(Create(Group(f"g{i}")) for i in range(6)),
        Update(existing.id or "", GroupChanges(description="renamed")),
        Update("404", GroupChanges(rank=1)),  # fails: no such group
        Delete(existing.id or ""),  # after the update: same group, same part, in order
    ]
    keys = JobKeys("job1")
    used = store_job(client, keys, ops, target="org0", parts=3)

    before = job_report(client, keys)
    assert [o.status for o in before.outcomes] == ["not_run"] * len(ops)
    assert [o.number for o in before.outcomes] == list(range(len(ops)))
    assert [o.key for o in before.outcomes] == [op.key for op in ops]
    assert str(before) == (
        "job job1 on org0: 9 operations, 0 done, 0 failed, 0 in doubt, 9 not run"
    )
    assert not before.ok

    counts = [await run_part(aclient, keys, part, backend) for part in used]
    assert sum(c["done"] for c in counts) == 8
    assert sum(c["failed"] for c in counts) == 1
    assert sum(c["skipped"] for c in counts) == 0
    assert await aclient.smembers(keys.finished) == {str(p).encode() for p in used}

    report = job_report(client, keys)
    assert [o.number for o in report.outcomes] == list(range(len(ops)))
    assert [o.operation for o in report.outcomes] == ["create"] * 6 + ["update"] * 2 + ["delete"]
    assert [o.status for o in report.outcomes] == ["done"] * 7 + ["failed", "done"]
    made = {g.name: g.id async for g in backend.groups()}
    assert set(made) == {f"g{i}" for i in range(6)}  # "Old" was deleted, after its update
    assert [o.group_id for o in report.outcomes[:6]] == [made[f"g{i}"] for i in range(6)]
    assert report.outcomes[6].group_id == existing.id
    assert report.outcomes[7].error is not None and "404" in report.outcomes[7].error
    assert report.count("done") == 8 and report.count("failed") == 1 and not report.ok
    assert report.to_dict()["outcomes"][0]["status"] == "done"
    assert type(report).from_dict(report.to_dict()) == report

    # a part run again (a message delivered twice) sends nothing
    again = await run_part(aclient, keys, used[0], backend)
    assert again["done"] == 0 and again["failed"] == 0
    assert again["skipped"] == sum(1 for op in ops if part_of(op, 3) == used[0])
    assert {g.name async for g in backend.groups()} == set(made)
    assert job_report(client, keys) == report


async def test_a_part_longer_than_a_page_is_read_and_reported_whole(
    client: redis.Redis, aclient: aioredis.Redis
) -> None:
    keys = JobKeys("job1")
    ops = [Create(Group(f"g{i:04d}")) for i in range(1001)]
    store_job(client, keys, ops, target="org0", parts=1)
    assert job_report(client, keys).count("not_run") == 1001
    assert await part_operations(aclient, keys, 0) == ops
    lines: dict[Any, Any] = {
        op.key: json.dumps({"key": op.key, "state": "done", "group_id": str(i)})
        for i, op in enumerate(ops)
    }
    client.hset(keys.states, mapping=lines)
    report = job_report(client, keys)
    assert report.ok and [o.number for o in report.outcomes] == list(range(1001))
    assert [o.group_id for o in report.outcomes] == [str(i) for i in range(1001)]


async def test_the_journal_expires_with_the_job(
    client: redis.Redis, aclient: aioredis.Redis
) -> None:
    keys = JobKeys("job1")
    store_job(client, keys, [Create(Group("a"))], target="org0", parts=1, keep_for=60)
    await run_part(aclient, keys, 0, MemoryBackend())
    for key in (keys.meta, keys.operations(0), keys.states, keys.target, keys.finished):
        assert 0 < client.pttl(key) <= 60_000, key


async def test_a_part_that_ends_in_an_error_leaves_its_journal_to_expire_with_the_job(
    client: redis.Redis, aclient: aioredis.Redis
) -> None:
    keys = JobKeys("job1")
    store_job(client, keys, [Create(Group("a")), Create(Group("b"))], target="org0", parts=1)
    client.pexpire(keys.meta, 60_000)
    # a state written by an earlier run, damaged since: this run refuses the part
    client.hset(keys.states, "create:b", '{"key": "create:b", "state": "finished"}')
    assert client.pttl(keys.states) == -1
    with pytest.raises(JournalError, match="damaged at the record of 'create:b'"):
        await run_part(aclient, keys, 0, MemoryBackend())
    assert 0 < client.pttl(keys.states) <= 60_000
    assert not client.exists(keys.finished)  # the part is not reported finished


async def test_a_damaged_state_is_a_journal_error_for_the_report_and_the_run(
    client: redis.Redis, aclient: aioredis.Redis
) -> None:
    keys = JobKeys("job1")
    store_job(client, keys, [Create(Group("a")), Create(Group("b"))], target="org0", parts=1)
    client.hset(keys.states, "create:b", '{"key": "create:b", "state": "finished"}')
    with pytest.raises(JournalError, match=r"redis job job1 is damaged at 'create:b': \"state\""):
        job_report(client, keys)
    backend = MemoryBackend()
    with pytest.raises(JournalError, match="damaged at the record of 'create:b'"):
        await run_part(aclient, keys, 0, backend)
    assert [g async for g in backend.groups()] == []  # nothing was sent
    client.hset(keys.states, "create:b", "not json at all")
    with pytest.raises(JournalError, match="damaged at 'create:b': not a JSON object"):
        job_report(client, keys)
    # a line kept under another operation's key is not that operation's state
    client.hset(keys.states, "create:b", '{"key": "create:a", "state": "done", "group_id": "1"}')
    with pytest.raises(JournalError, match="damaged at 'create:b': it names 'create:a'"):
        job_report(client, keys)


def test_the_report_of_an_unknown_job_is_a_validation_error(client: redis.Redis) -> None:
    with pytest.raises(ValidationError, match="no job 'nope' \\(never submitted, or expired\\)"):
        job_report(client, JobKeys("nope"))


# -- Celery's producer side, without workers ------------------------------------------------


@pytest.fixture
def jobs(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CeleryJobs]:
    monkeypatch.setenv("UNIGROUPS_EMULATOR_TOKEN", TOKEN)
    jobs = make_jobs(redis_url, ["http://127.0.0.1:9", "http://127.0.0.1:10"])
    yield jobs
    jobs.client.close()
    jobs.app.close()


def queued(client: redis.Redis) -> list[tuple[str, list[Any]]]:
    """The task name and arguments of every message on the broker's queue."""
    found = []
    for raw in client.lrange("celery", 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], args))
    return found


def test_a_submit_with_a_bad_item_queues_nothing(jobs: CeleryJobs, client: redis.Redis) -> None:
    ops: list[Any] = [Create(Group("a")), "oops", Create(Group("b"))]
    with pytest.raises(ValidationError, match="operation 1 is a str"):
        jobs.submit(ops, target="org0", job_id="job1")
    assert client.llen("celery") == 0
    assert [k for k in dump(client) if k.startswith(b"unigroups:")] == []


def test_a_submit_queues_one_message_per_part_and_no_secret(
    jobs: CeleryJobs, client: redis.Redis
) -> None:
    assert jobs.target("org0")[1]["access_token"] == TOKEN  # the workers' side has it
    ops = [Create(Group(f"group {i}")) for i in range(40)]
    handle = jobs.submit(ops, target="org0", parts=6, job_id="job1")
    assert handle.job_id == "job1" and handle.result is not None
    parts = sorted({part_of(op, 6) for op in ops})
    messages = queued(client)
    assert sorted(messages, key=lambda m: m[1][1]) == [
        ("unigroups.jobs.run_part", ["job1", part]) for part in parts
    ]
    everything = repr(dump(client))
    assert TOKEN not in everything
    assert TOKEN.encode().hex() not in everything
    assert base64.b64encode(TOKEN.encode()).decode()[:12] not in everything
    assert "job1" in everything  # the dump does see the messages
    assert handle.report().count("not_run") == 40

    with pytest.raises(ValidationError, match="exists already"):
        jobs.submit([Delete("1")], target="org0", job_id="job1")
    assert client.llen("celery") == len(parts)


def test_a_submit_to_a_target_the_configuration_lacks_stores_and_queues_nothing(
    jobs: CeleryJobs, client: redis.Redis
) -> None:
    with pytest.raises(ConfigurationError, match=r"no target named 'org7' \(targets: org0, org1\)"):
        jobs.submit([Create(Group("a"))], target="org7", job_id="job1")
    assert dump(client) == {}


def test_a_submit_checks_the_target_name_without_reading_its_secrets(
    redis_url: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The producer may share the workers' file without their environment.
    monkeypatch.delenv("ACME_TOKEN", raising=False)
    targets = {"acme": {"backend": "zoho", "access_token": "${ACME_TOKEN}"}}
    app = Celery("t", broker=redis_url, backend=redis_url)
    jobs = CeleryJobs(app, redis_url=redis_url, targets=targets)
    handle = jobs.submit([Create(Group("a"))], target="acme", job_id="job1")
    assert handle.report().count("not_run") == 1
    jobs.client.close()
    app.close()


def test_an_unknown_target_names_the_known_ones(jobs: CeleryJobs) -> None:
    with pytest.raises(
        ConfigurationError, match=r"no target named 'nope' \(targets: org0, org1\)"
    ) as info:
        jobs.target("nope")
    assert info.value.option == "target"


def test_redis_url_must_be_a_redis_url() -> None:
    for url in ("http://x", "localhost:6379", ""):
        with pytest.raises(ConfigurationError, match="redis:// or rediss:// URL"):
            CeleryJobs(Celery("t"), redis_url=url)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A redis:// URL whose server takes connections and never answers (a frozen Redis)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        host, port = server.getsockname()
        yield f"redis://:hunter2@{host}:{port}/0"


@pytest.fixture
def closed_port() -> str:
    with socket.create_server(("127.0.0.1", 0)) as server:
        host, port = server.getsockname()
    return f"redis://:hunter2@{host}:{port}/0"  # nothing listens there any more


@pytest.mark.parametrize("store", ["silent_server", "closed_port"])
def test_a_job_store_that_cannot_be_used_is_a_journal_error_without_the_password(
    store: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue(store)
    jobs = CeleryJobs(Celery("t", broker=url), redis_url=url, redis_timeout=0.2)
    safe = url.replace("hunter2", "***")
    assert jobs.store == safe
    for call in (
        lambda: jobs.submit([Create(Group("a"))], target="org0", job_id="job1"),
        lambda: jobs.report("job1"),
    ):
        with pytest.raises(JournalError, match=f"the job store {re.escape(safe)} cannot be used"):
            call()
    jobs.client.close()


def test_a_part_on_a_silent_job_store_ends_in_a_journal_error_without_the_password(
    silent_server: str,
) -> None:
    jobs = CeleryJobs(
        Celery("t", broker=silent_server), redis_url=silent_server, redis_timeout=0.2, retry_for=0
    )
    try:
        with pytest.raises(JournalError, match=r"the job store redis://:\*\*\*@.* cannot be used"):
            jobs.run_part_until_done("job1", 0)
    finally:
        jobs.close_worker()


@pytest.mark.parametrize(
    ("option", "bad"),
    [
        ("concurrency", 0),
        ("concurrency", "8"),
        ("concurrency", True),
        ("concurrency", 2.5),
        ("lease", 0),
        ("lease", math.nan),
        ("lease", "30"),
        ("keep_for", 0.5),
        ("keep_for", math.inf),
        ("prefix", ""),
        ("prefix", 7),
        ("retry_every", -1),
        ("retry_for", -1),
        ("redis_timeout", 0),
        ("redis_timeout", math.inf),
        ("redis_timeout", True),
    ],
)
def test_bad_job_options_are_refused_when_the_jobs_are_configured(option: str, bad: object) -> None:
    app = Celery("t", broker="redis://127.0.0.1:1")
    with pytest.raises(ConfigurationError, match=f"^{option} must be") as info:
        CeleryJobs(app, redis_url="redis://127.0.0.1:1", **{option: bad})
    assert info.value.option == option


def test_a_job_of_no_operations_is_reported_at_once(jobs: CeleryJobs, client: redis.Redis) -> None:
    handle = jobs.submit([], target="org0", job_id="empty")
    assert handle.result is None
    report = handle.get(timeout=0.01)
    assert (report.job_id, report.target, report.outcomes) == ("empty", "org0", ())
    assert str(report) == "job empty on org0: 0 operations, 0 done, 0 failed, 0 in doubt, 0 not run"
    assert client.llen("celery") == 0


# -- the workers' side, in process ----------------------------------------------------------


def test_the_parts_a_worker_runs_at_once_share_one_throttle(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIGROUPS_EMULATOR_TOKEN", "test-token")
    made: list[RedisThrottle] = []

    class Counted(RedisThrottle):
        def __init__(self, *args: Any, **options: Any) -> None:
            super().__init__(*args, **options)
            made.append(self)

    monkeypatch.setattr(celery_module, "RedisThrottle", Counted)
    emulator = ZohoEmulator(faults=FaultPolicy(latency=0.005), record_requests=False)
    ops = [Create(Group(f"group {i:03d}")) for i in range(120)]
    with ThreadedServer(emulator.make_app) as url:
        jobs = make_jobs(redis_url, [url], cap=3, concurrency=5)
        used = store_job(jobs.client, jobs.keys("job1"), ops, target="org0", parts=4)
        try:
            with ThreadPoolExecutor(len(used)) as pool:  # as a worker's thread pool runs tasks
                counts = list(pool.map(lambda part: jobs.run_part_until_done("job1", part), used))
        finally:
            jobs.close_worker()
    assert sum(count["done"] for count in counts) == 120 and jobs.report("job1").ok
    assert len(made) == 1  # one throttle for the org, however many parts ran at once
    # Its slots passed from part to part in the process, never through Redis's pool.
    assert made[0].grants["handoff"] > 0 and made[0].grants["wake"] == 0
    assert emulator.stats.peak_in_flight <= 3
    jobs.client.close()


def test_a_keep_for_under_a_second_is_refused_before_anything_is_written(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    with pytest.raises(ValidationError, match="at least 1 second"):
        store_job(client, JobKeys("tiny"), [Delete("1")], target="org0", keep_for=1e-4)
    assert client.keys("*") == []
    client.close()
