"""Batch jobs that lose nothing: many creates, updates and deletes over one backend.

Every operation ends in exactly one :class:`Outcome`: done (with the group), failed (with its
typed error), or skipped (done by an earlier run, according to the journal). The backend's
transport retries and throttles each request; the batch adds what needs the whole job: the
journal, and looking before re-creating a group whose create may have happened.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, Literal, TypeAlias

import attrs

from .errors import (
    DuplicateGroupError,
    NotFoundError,
    ServerError,
    TransportError,
    UnigroupsError,
    ValidationError,
)
from .http import RetryPolicy, Throttle
from .journal import Journal, JournalEntry
from .models import Group, GroupChanges
from .protocol import GroupBackend

__all__ = [
    "BatchReport",
    "BatchRun",
    "Create",
    "Delete",
    "Operation",
    "Outcome",
    "Progress",
    "Update",
    "iter_batch",
    "run_batch",
]


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@attrs.frozen
class Create:
    """Create ``group``. Its key, by default, is its name: names are unique per vendor."""

    group: Group = attrs.field(validator=attrs.validators.instance_of(Group))
    key: str = attrs.field(
        default=attrs.Factory(lambda self: f"create:{self.group.name}", takes_self=True)
    )


@attrs.frozen
class Update:
    """Apply ``changes`` to the group ``group_id``."""

    group_id: str
    changes: GroupChanges = attrs.field(validator=attrs.validators.instance_of(GroupChanges))
    key: str = attrs.field(
        default=attrs.Factory(
            lambda self: f"update:{self.group_id}:{_digest(attrs.asdict(self.changes))}",
            takes_self=True,
        )
    )


@attrs.frozen
class Delete:
    """Delete the group ``group_id`` (deactivate it where the backend's delete is soft)."""

    group_id: str
    key: str = attrs.field(
        default=attrs.Factory(lambda self: f"delete:{self.group_id}", takes_self=True)
    )


Operation: TypeAlias = Create | Update | Delete
Status = Literal["done", "failed", "skipped"]


@attrs.frozen
class Outcome:
    """How one operation ended. ``group`` for a done create or update; ``error`` if failed."""

    operation: Operation
    status: Status
    group: Group | None = None
    group_id: str | None = None
    error: Exception | None = None
    attempts: int = 0

    @property
    def key(self) -> str:
        return self.operation.key

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@attrs.frozen
class Progress:
    """Sent to ``on_progress`` after every outcome."""

    total: int
    done: int
    failed: int
    skipped: int
    retried: int
    in_flight: int
    concurrency: int  # the current adaptive limit
    rate_limited: int  # 429 answers seen so far
    elapsed: float

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped


@attrs.frozen
class BatchReport:
    outcomes: tuple[Outcome, ...]
    elapsed: float
    rate_limited: int
    concurrency: int  # the adaptive limit when the job ended

    def _count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def done(self) -> int:
        return self._count("done")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def retried(self) -> int:
        """Operations that needed more than one attempt."""
        return sum(1 for o in self.outcomes if o.attempts > 1)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        return (
            f"{len(self.outcomes)} operations: {self.done} done, {self.failed} failed, "
            f"{self.skipped} skipped, {self.retried} retried in {self.elapsed:.1f}s"
        )


ProgressCallback = Callable[[Progress], Awaitable[None] | None]


@attrs.define
class _Job:
    """The state of one run: what is left, the journal, the backend's send budget."""

    backend: GroupBackend
    pending: deque[Operation]
    journal: Journal | None
    results: asyncio.Queue[Outcome]
    # Sends the backend allows one request (its retry policy); a create whose fate is
    # unknown is re-created, after a look-up, only while its sends stay within it.
    send_budget: int
    # Keys an earlier run started without recording the end, read when this run began.
    cut_short: frozenset[str] = frozenset()
    running: int = 0

    def mark(self, key: str, state: Literal["started", "done", "failed"], **kw: Any) -> None:
        if self.journal is not None:
            self.journal.record(JournalEntry(key, state, **kw))

    def uncertain(self, operation: Operation) -> bool:
        """Started by an earlier run that did not record how it ended."""
        return operation.key in self.cut_short


class BatchRun:
    """One run of a batch: iterate it for outcomes as they complete (skipped ones first).

    ``progress()`` tells where it stands at any moment, the adaptive limit included.
    """

    def __init__(
        self,
        backend: GroupBackend,
        operations: Iterable[Operation],
        *,
        concurrency: int | None = None,
        journal: str | os.PathLike[str] | Journal | None = None,
    ) -> None:
        self.operations = list(operations)
        _check_operations(self.operations)
        if concurrency is not None and concurrency < 1:
            raise ValidationError("must be at least 1", field="concurrency")
        log: Journal | None
        if journal is None or isinstance(journal, Journal):
            log, self._own_journal = journal, False
        else:
            log, self._own_journal = Journal(journal), True
        self.concurrency = concurrency or 10
        self.throttle: Throttle | None = getattr(backend, "throttle", None)
        policy: RetryPolicy | None = getattr(backend, "retry_policy", None)
        self._job = _Job(
            backend=backend,
            pending=deque(),
            journal=log,
            results=asyncio.Queue(),
            send_budget=policy.attempts if policy is not None else RetryPolicy().attempts,
            cut_short=frozenset(
                key
                for key, entry in (log.entries if log else {}).items()
                if entry.state == "started"
            ),
        )
        self.counts = {"done": 0, "failed": 0, "skipped": 0, "retried": 0}
        self.started = time.monotonic()

    def progress(self) -> Progress:
        stats = self.throttle.stats if self.throttle is not None else None
        return Progress(
            total=len(self.operations),
            done=self.counts["done"],
            failed=self.counts["failed"],
            skipped=self.counts["skipped"],
            retried=self.counts["retried"],
            in_flight=self._job.running,
            concurrency=stats.limit if stats else self.concurrency,
            rate_limited=stats.rate_limited if stats else 0,
            elapsed=time.monotonic() - self.started,
        )

    def __aiter__(self) -> AsyncIterator[Outcome]:
        return self._outcomes()

    def _count(self, outcome: Outcome) -> Outcome:
        self.counts[outcome.status] += 1
        self.counts["retried"] += outcome.attempts > 1
        return outcome

    async def _outcomes(self) -> AsyncIterator[Outcome]:
        job = self._job
        self.started = time.monotonic()
        for op in self.operations:
            entry = job.journal.entries.get(op.key) if job.journal is not None else None
            if entry is not None and entry.state == "done":
                yield self._count(Outcome(op, "skipped", group_id=entry.group_id))
            else:
                job.pending.append(op)
        count = min(self.concurrency, len(job.pending))
        workers = [asyncio.create_task(_worker(job)) for _ in range(count)]
        try:
            for _ in range(len(job.pending)):
                yield self._count(await job.results.get())
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if self._own_journal and job.journal is not None:
                job.journal.close()


#: The async-iterator form: ``async for outcome in iter_batch(backend, operations): ...``
#: (the same arguments as run_batch, less on_progress; ``run.progress()`` reads the state).
iter_batch = BatchRun


async def run_batch(
    backend: GroupBackend,
    operations: Iterable[Operation],
    *,
    concurrency: int | None = None,
    journal: str | os.PathLike[str] | Journal | None = None,
    on_progress: ProgressCallback | None = None,
) -> BatchReport:
    """Run every operation; the report holds exactly one outcome for each, in input order.

    ``concurrency`` is the most operations in flight (default 10); the backend's throttle
    decides how many of their requests are sent at once, and its retry policy how often
    each is sent. With a ``journal`` file, running the same operations again skips what is
    done and retries what failed or was cut short.
    """
    run = iter_batch(backend, operations, concurrency=concurrency, journal=journal)
    finished: dict[str, Outcome] = {}
    async for outcome in run:
        finished[outcome.key] = outcome
        if on_progress is not None:
            result = on_progress(run.progress())
            if inspect.isawaitable(result):
                await result
    end = run.progress()
    return BatchReport(
        outcomes=tuple(finished[op.key] for op in run.operations),
        elapsed=time.monotonic() - run.started,
        rate_limited=end.rate_limited,
        concurrency=end.concurrency,
    )


def _check_operations(ops: Sequence[Operation]) -> None:
    seen: set[str] = set()
    for op in ops:
        if not isinstance(op, (Create, Update, Delete)):
            raise ValidationError(
                f"operations must be Create, Update or Delete, not {type(op).__name__}",
                field="operations",
            )
        if op.key in seen:
            raise ValidationError(f"two operations share the key {op.key!r}", field="operations")
        seen.add(op.key)


async def _worker(job: _Job) -> None:
    while job.pending:
        ops = _take(job)
        job.running += len(ops)
        try:
            if len(ops) > 1:
                outcomes = await _run_many(job, ops)
            else:
                outcomes = [await _run(job, ops[0])]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never lose an operation, whatever went wrong
            outcomes = [Outcome(op, "failed", error=exc, attempts=1) for op in ops]
        finally:
            job.running -= len(ops)
        for outcome in outcomes:
            if outcome.status == "done":
                job.mark(outcome.key, "done", group_id=outcome.group_id)
            else:
                job.mark(outcome.key, "failed", error=_describe(outcome.error))
            job.results.put_nowait(outcome)


def _take(job: _Job) -> list[Operation]:
    """The next operation, or the next creates that one call may carry (``max_batch``)."""
    first = job.pending.popleft()
    size = job.backend.capabilities.max_batch
    if not isinstance(first, Create) or size < 2 or not hasattr(job.backend, "create_many"):
        return [first]
    ops: list[Operation] = [first]
    while job.pending and len(ops) < size and isinstance(job.pending[0], Create):
        ops.append(job.pending.popleft())
    return ops


async def _run_many(job: _Job, ops: list[Operation]) -> list[Outcome]:
    """Creates sent together; each answer entry is matched to its own operation."""
    creates = [op for op in ops if isinstance(op, Create)]
    if any(job.uncertain(op) for op in creates):
        return [await _run(job, op) for op in creates]  # each must be looked up first
    for op in creates:
        job.mark(op.key, "started")
    create_many: Callable[[list[Group]], Awaitable[list[Group | Exception]]]
    create_many = job.backend.create_many  # type: ignore[attr-defined]
    try:
        results = await create_many([op.group for op in creates])
    except UnigroupsError as exc:
        results = [exc] * len(creates)  # the call as a whole failed: each op on its own
    outcomes = []
    for op, result in zip(creates, results, strict=True):
        if isinstance(result, Group):
            outcomes.append(Outcome(op, "done", result, result.id, attempts=1))
        else:
            outcomes.append(await _after_failure(job, op, result, _sends(result)))
    return outcomes


def _describe(error: Exception | None) -> str:
    return f"{type(error).__name__}: {error}" if error is not None else "unknown"


def _sends(error: Exception) -> int:
    """How many times the failed call's request was sent (1 when nobody counted)."""
    return getattr(error, "attempts", None) or 1


def _fate_unknown(error: Exception) -> bool:
    """Whether a failed call may still have changed the vendor's state."""
    if isinstance(error, TransportError):
        return error.request_sent is not False
    return isinstance(error, ServerError)  # a 5xx may come after the vendor stored the group


async def _run(job: _Job, op: Operation) -> Outcome:
    """Run one operation to its outcome. The transport has retried what it may."""
    if job.uncertain(op) and isinstance(op, Create):
        # An earlier run may have created it: look before creating again.
        existing = await job.backend.find(op.group.name)
        if existing is not None:
            return Outcome(op, "done", existing, existing.id, attempts=0)
    job.mark(op.key, "started")
    try:
        group = await _execute(job.backend, op)
    except UnigroupsError as exc:
        return await _after_failure(job, op, exc, _sends(exc))
    return Outcome(op, "done", group, group.id if group else _target(op), attempts=1)


async def _after_failure(job: _Job, op: Operation, error: Exception, sent: int) -> Outcome:
    """The outcome of ``op`` after its call failed with ``error``, ``sent`` sends so far.

    A create whose fate is unknown is looked up; when it is not there it is created again,
    as long as its sends stay within the backend's budget. A delete whose earlier send may
    have acted and that now finds nothing is done.
    """
    uncertain = job.uncertain(op) or _fate_unknown(error)
    while isinstance(op, Create) and uncertain and sent < job.send_budget:
        if not isinstance(error, (DuplicateGroupError, TransportError, ServerError)):
            break
        existing = await job.backend.find(op.group.name)  # made by an earlier send?
        if existing is not None:
            return Outcome(op, "done", existing, existing.id, attempts=sent)
        if isinstance(error, DuplicateGroupError):
            break  # taken, yet not found: a name the vendor matches otherwise
        try:
            group = await _execute(job.backend, op)
        except UnigroupsError as exc:
            error, sent = exc, sent + _sends(exc)
            uncertain = _fate_unknown(exc) or isinstance(exc, DuplicateGroupError)
            continue
        return Outcome(op, "done", group, group.id if group else None, attempts=sent + 1)
    gone = isinstance(error, NotFoundError) and (job.uncertain(op) or sent > 1)
    if isinstance(op, Delete) and gone:  # an earlier send may have deleted it
        return Outcome(op, "done", None, op.group_id, attempts=sent)
    return Outcome(op, "failed", error=error, attempts=sent)


def _target(op: Operation) -> str | None:
    return op.group_id if isinstance(op, (Update, Delete)) else None


async def _execute(backend: GroupBackend, op: Operation) -> Group | None:
    if isinstance(op, Create):
        return await backend.create(op.group)
    if isinstance(op, Update):
        return await backend.update(op.group_id, op.changes)
    await backend.delete(op.group_id)
    return None
