"""A job kept in Redis: its operations split into parts by group, one part run as a batch,
and the report of every operation's outcome.

Queue-neutral: ``unigroups.distributed.celery`` runs parts as Celery tasks, and another queue
(arq, taskiq) can call ``store_job``, ``run_part`` and ``job_report`` the same way.
"""

from __future__ import annotations

import contextlib
import json
import math
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import attrs
import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..batch import run_batch
from ..errors import JournalError, ValidationError
from ..journal import JournalTarget, entry_of, read_line
from ..operations import Create, Delete, Operation, check_operation
from ..protocol import GroupBackend
from .codec import dumps_operation, loads_operation
from .journal import RedisJournal
from .keys import JobKeys

__all__ = [
    "JobOutcome",
    "JobReport",
    "job_report",
    "part_of",
    "run_part",
    "store_job",
]

_PAGE = 1000  # list items or hash fields per Redis call
OutcomeStatus = Literal["done", "failed", "in_doubt", "not_run"]


def part_of(op: Operation, parts: int) -> int:
    """The part ``op`` belongs to: every operation on one group (one id; for creates, one
    name, case folded, which is never finer than a target's case rules) lands in one part,
    so a part's batch keeps them in order. Stable across processes and machines."""
    lane = f"name:{op.group.name.casefold()}" if isinstance(op, Create) else f"id:{op.group_id}"
    return zlib.crc32(lane.encode("utf-8", "surrogatepass")) % parts


def _check_parts(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise ValidationError(f"must be an int from 1 to 10000, not {value!r}", field="parts")
    return value


def _check_seconds(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"must be a number of seconds, not {value!r}", field=field)
    if value <= 0:
        raise ValidationError(f"must be above 0, not {value!r}", field=field)
    return float(value)


# -- the producer's side --------------------------------------------------------------------


def store_job(
    client: redis.Redis,
    keys: JobKeys,
    operations: Iterable[Operation],
    *,
    target: str,
    parts: int = 16,
    keep_for: float = 7 * 86400,
) -> list[int]:
    """Keep the job's operations in Redis, split into ``parts``; return the parts that hold any.

    Operations are read lazily and written in pages. A job id already in use, an item that
    is not an operation, or two operations with one key raise ``ValidationError``; what was
    written of a refused job is removed, and nothing of it runs.
    """
    parts = _check_parts(parts)
    keep_ms = int(_check_seconds(keep_for, "keep_for") * 1000)
    if keep_ms < 1000:  # less would expire the job while it is being written
        raise ValidationError(f"must be at least 1 second, not {keep_for!r}", field="keep_for")
    if not isinstance(target, str) or not target:
        raise ValidationError(f"must be a target's name, not {target!r}", field="target")
    if isinstance(operations, (str, bytes)) or not isinstance(operations, Iterable):
        raise ValidationError(
            f"must be an iterable of operations, not {type(operations).__name__}",
            field="operations",
        )
    # A job's journal outlives its operations when a run outlived them: a new job under
    # its id would read its states and skip its own operations as done.
    if client.exists(keys.states, keys.target, keys.finished) or not client.hsetnx(
        keys.meta, "target", target
    ):
        raise ValidationError(f"the job {keys.job!r} exists already", field="job_id")
    used: set[int] = set()
    try:
        # Every key lives no longer than the job, even if this process dies while writing.
        client.pexpire(keys.meta, keep_ms)
        total = _write_operations(client, keys, operations, parts, used, keep_ms)
    except BaseException:
        client.delete(keys.meta, *(keys.operations(part) for part in range(parts)))
        raise
    pipe = client.pipeline()
    pipe.hset(keys.meta, mapping={"parts": parts, "total": total})
    for key in (keys.meta, *(keys.operations(part) for part in used)):
        pipe.pexpire(key, keep_ms)
    pipe.execute()
    return sorted(used)


def _write_operations(
    client: redis.Redis,
    keys: JobKeys,
    operations: Iterable[Operation],
    parts: int,
    used: set[int],
    keep_ms: int,
) -> int:
    seen: set[str] = set()
    pipe = client.pipeline(transaction=False)
    pending = 0
    number = -1
    for number, item in enumerate(operations):
        op = check_operation(item, number)
        if op.key in seen:
            raise ValidationError(f"two operations share the key {op.key!r}", field="operations")
        seen.add(op.key)
        part = part_of(op, parts)
        pipe.rpush(keys.operations(part), f"[{number},{dumps_operation(op)}]")
        if part not in used:
            used.add(part)
            pipe.pexpire(keys.operations(part), keep_ms)
        pending += 1
        if pending == _PAGE:
            pipe.execute()
            pending = 0
    if pending:
        pipe.execute()
    return number + 1


def _item(raw: bytes | str) -> tuple[int, Operation]:
    try:
        number, data = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"a job's stored operation is damaged: {exc}", field="operation"
        ) from None
    return number, loads_operation(json.dumps(data))


# -- the worker's side ----------------------------------------------------------------------


async def part_operations(client: aioredis.Redis, keys: JobKeys, part: int) -> list[Operation]:
    """Part ``part``'s operations, in input order."""
    ops: list[Operation] = []
    start = 0
    while True:
        page = await client.lrange(keys.operations(part), start, start + _PAGE - 1)
        ops.extend(_item(raw)[1] for raw in page)
        if len(page) < _PAGE:
            return ops
        start += _PAGE


async def run_part(
    client: aioredis.Redis,
    keys: JobKeys,
    part: int,
    backend: GroupBackend,
    *,
    concurrency: int = 10,
    lease: float = 30.0,
) -> dict[str, int]:
    """Run part ``part`` of the job on ``backend``, its journal in Redis; return its counts.

    Run it again (after a crash, on another worker) and it skips what is done and looks up
    what is in doubt. Raises ``JournalError`` when another live run holds the part or the
    journal cannot be written: the caller tries again later.
    """
    ops = await part_operations(client, keys, part)
    target = JournalTarget.of(backend)
    try:
        journal = await RedisJournal.open(
            client,
            keys.job,
            target=target,
            part=part,
            keys=[op.key for op in ops],
            lease=lease,
            prefix=keys.prefix,
        )
        async with journal:
            report = await run_batch(
                backend, ops, concurrency=concurrency, journal=journal, keep="failures"
            )
    except BaseException:
        # What this run wrote must not outlive the job, should no later run end the part;
        # a Redis that cannot be asked now leaves that to the run that tries again.
        with contextlib.suppress(RedisError):
            await _expire_with_job(client, keys)
        raise
    await client.sadd(keys.finished, part)
    await _expire_with_job(client, keys)
    return {"done": report.done, "failed": report.failed, "skipped": report.skipped}


async def _expire_with_job(client: aioredis.Redis, keys: JobKeys) -> None:
    """The journal's keys (made by runs, with no lifetime) expire when the job does."""
    left = await client.pttl(keys.meta)
    if left > 0:
        pipe = client.pipeline(transaction=False)
        for key in (keys.states, keys.target, keys.finished):
            pipe.pexpire(key, left)
        await pipe.execute()


# -- the report -----------------------------------------------------------------------------


@attrs.frozen
class JobOutcome:
    """Where one operation of a job stands, from the job's journal."""

    number: int  # its position in the operations submitted
    key: str
    operation: Literal["create", "update", "delete"]
    status: OutcomeStatus  # in_doubt: failed without knowing what the vendor did
    group_id: str | None = None
    error: str | None = None


@attrs.frozen
class JobReport:
    """Every operation's outcome, in input order, and the counts."""

    job_id: str
    target: str
    outcomes: tuple[JobOutcome, ...]

    def count(self, status: OutcomeStatus) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def ok(self) -> bool:
        return all(outcome.status == "done" for outcome in self.outcomes)

    def __str__(self) -> str:
        counts = ", ".join(
            f"{self.count(status)} {status.replace('_', ' ')}"
            for status in ("done", "failed", "in_doubt", "not_run")
        )
        return f"job {self.job_id} on {self.target}: {len(self.outcomes)} operations, {counts}"

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobReport:
        outcomes = tuple(JobOutcome(**item) for item in data["outcomes"])
        return cls(job_id=data["job_id"], target=data["target"], outcomes=outcomes)


def job_report(client: redis.Redis, keys: JobKeys) -> JobReport:
    """The job's report as its journal holds it now (``not_run``: not started yet)."""
    meta = client.hgetall(keys.meta)
    if not meta:
        raise ValidationError(f"no job {keys.job!r} (never submitted, or expired)", field="job_id")
    if b"parts" not in meta:
        raise ValidationError(f"the job {keys.job!r} is still being stored", field="job_id")
    parts = int(meta[b"parts"])
    outcomes = [outcome for part in range(parts) for outcome in _part_outcomes(client, keys, part)]
    outcomes.sort(key=lambda outcome: outcome.number)
    return JobReport(keys.job, _bytes(meta[b"target"]).decode(), tuple(outcomes))


def _part_outcomes(client: redis.Redis, keys: JobKeys, part: int) -> Iterator[JobOutcome]:
    start = 0
    while True:
        page = client.lrange(keys.operations(part), start, start + _PAGE - 1)
        items = [_item(raw) for raw in page]
        if items:
            lines = client.hmget(keys.states, [op.key for _number, op in items])
            for (number, op), line in zip(items, lines, strict=True):
                yield _outcome(number, op, None if line is None else _bytes(line), keys)
        if len(page) < _PAGE:
            return
        start += _PAGE


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _outcome(number: int, op: Operation, line: bytes | None, keys: JobKeys) -> JobOutcome:
    kind: Literal["create", "update", "delete"] = (
        "create" if isinstance(op, Create) else "delete" if isinstance(op, Delete) else "update"
    )
    if line is None:
        return JobOutcome(number, op.key, kind, "not_run")

    def damaged(problem: str) -> JournalError:
        where = f"redis job {keys.job}"
        return JournalError(f"the journal {where} is damaged at {op.key!r}: {problem}", path=where)

    key, record = read_line(line, damaged)
    if key != op.key:
        raise damaged(f"it names {key!r}")
    entry = entry_of(key, record)
    status: OutcomeStatus
    if entry.state == "done":
        status = "done"
    elif entry.state == "failed":
        status = "failed"
    else:  # in doubt, or started by a run that ended without an end
        status = "in_doubt"
    return JobOutcome(number, op.key, kind, status, entry.group_id, entry.error)
