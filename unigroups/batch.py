"""Batch jobs that lose nothing: many creates, updates and deletes over one backend.

Every operation ends in exactly one :class:`Outcome`: done (with the group), failed (with its
typed error), or skipped (done by an earlier run, according to the journal). Retries, the
adaptive concurrency limit and the journal live here; the backend only runs single calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import os
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, Literal, TypeAlias

import attrs

from .concurrency import AdaptiveLimit
from .errors import (
    DuplicateGroupError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnigroupsError,
    ValidationError,
)
from .http import request_observer
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
    """The state of one run: what is left, the limit, the journal."""

    backend: GroupBackend
    pending: deque[Operation]
    limit: AdaptiveLimit
    journal: Journal | None
    max_attempts: int
    results: asyncio.Queue[Outcome]
    rng: random.Random
    # Keys an earlier run started without recording the end, read when this run began.
    cut_short: frozenset[str] = frozenset()

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
        adaptive: bool = True,
        max_attempts: int = 10,
        seed: int | None = None,
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
        self.limit = AdaptiveLimit(concurrency or 10, adaptive=adaptive)
        self._job = _Job(
            backend=backend,
            pending=deque(),
            limit=self.limit,
            journal=log,
            max_attempts=max_attempts,
            results=asyncio.Queue(),
            rng=random.Random(seed),
            cut_short=frozenset(
                key
                for key, entry in (log.entries if log else {}).items()
                if entry.state == "started"
            ),
        )
        self.counts = {"done": 0, "failed": 0, "skipped": 0, "retried": 0}
        self.started = time.monotonic()

    def progress(self) -> Progress:
        return Progress(
            total=len(self.operations),
            done=self.counts["done"],
            failed=self.counts["failed"],
            skipped=self.counts["skipped"],
            retried=self.counts["retried"],
            in_flight=self.limit.active,
            concurrency=self.limit.current,
            rate_limited=self.limit.rate_limited,
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
        workers = [asyncio.create_task(_worker(job)) for _ in range(self.limit.max_limit)]
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
    adaptive: bool = True,
    max_attempts: int = 10,
) -> BatchReport:
    """Run every operation; the report holds exactly one outcome for each, in input order.

    ``concurrency`` is the most operations in flight (default 10); with ``adaptive`` the
    limit backs off on 429 answers and climbs back. With a ``journal`` file, running the same
    operations again skips what is done and retries what failed or was cut short.
    """
    run = iter_batch(
        backend,
        operations,
        concurrency=concurrency,
        journal=journal,
        adaptive=adaptive,
        max_attempts=max_attempts,
    )
    finished: dict[str, Outcome] = {}
    async for outcome in run:
        finished[outcome.key] = outcome
        if on_progress is not None:
            result = on_progress(run.progress())
            if inspect.isawaitable(result):
                await result
    return BatchReport(
        outcomes=tuple(finished[op.key] for op in run.operations),
        elapsed=time.monotonic() - run.started,
        rate_limited=run.limit.rate_limited,
        concurrency=run.limit.current,
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


class _Trace:
    """What the transport met while one operation ran (a RequestObserver)."""

    def __init__(self, limit: AdaptiveLimit) -> None:
        self._limit = limit
        self.uncertain = False
        self.told_limit = False  # the limit already knows of the last 429

    def rate_limited(self, retry_after: float | None) -> bool:
        self._limit.rate_limited_by_vendor(retry_after)  # the whole job slows down
        self.told_limit = True
        return True  # retried by _run, which waits without holding a slot

    def fate_unknown(self) -> None:
        self.uncertain = True


async def _worker(job: _Job) -> None:
    while job.pending:
        ops = _take(job)
        try:
            if len(ops) > 1:
                outcomes = await _run_many(job, ops)
            else:
                outcomes = [await _run(job, ops[0])]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never lose an operation, whatever went wrong
            outcomes = [Outcome(op, "failed", error=exc, attempts=1) for op in ops]
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
    attempt = 1
    while True:
        trace = _Trace(job.limit)
        request_observer.set(trace)
        try:
            async with job.limit.slot():
                results = await create_many([op.group for op in creates])
        except RateLimitedError as exc:
            # Refused as a whole, and not acted on: the same call again once the wait is over.
            if attempt >= job.max_attempts:
                return [Outcome(op, "failed", error=exc, attempts=attempt) for op in creates]
            await _wait_to_retry(job, trace, attempt, exc)
            attempt += 1
            continue
        except UnigroupsError as exc:
            if not _retryable(exc):
                return [Outcome(op, "failed", error=exc, attempts=attempt) for op in creates]
            results = [exc] * len(creates)  # the call as a whole failed: retry one by one
        break
    job.limit.succeeded()
    outcomes = []
    for op, result in zip(creates, results, strict=True):
        if isinstance(result, Group):
            outcomes.append(Outcome(op, "done", result, result.id, attempts=attempt))
        elif isinstance(result, UnigroupsError) and _retryable(result):
            outcomes.append(await _run(job, op, after=result))
        else:
            outcomes.append(Outcome(op, "failed", error=result, attempts=attempt))
    return outcomes


def _describe(error: Exception | None) -> str:
    return f"{type(error).__name__}: {error}" if error is not None else "unknown"


def _retryable(error: Exception) -> bool:
    return isinstance(error, (RateLimitedError, ServerError, TransportError))


def _fate_unknown(op: Operation, error: Exception) -> bool:
    """Whether a failed attempt may still have changed the vendor's state."""
    if isinstance(error, TransportError):
        return error.request_sent is not False
    return isinstance(error, ServerError)  # a 5xx may come after the vendor stored the group


async def _run(job: _Job, op: Operation, *, after: Exception | None = None) -> Outcome:
    """Run one operation to its outcome; ``after`` is the error of a batched first attempt."""
    backend = job.backend
    trace = _Trace(job.limit)
    request_observer.set(trace)
    uncertain = job.uncertain(op) or (after is not None and _fate_unknown(op, after))
    attempt = 0 if after is None else 1
    while True:
        attempt += 1
        try:
            if uncertain and isinstance(op, Create):
                # An earlier attempt may have created it: look before creating again.
                existing = await backend.find(op.group.name)
                if existing is not None:
                    return Outcome(op, "done", existing, existing.id, attempts=attempt)
            job.mark(op.key, "started")
            async with job.limit.slot():
                group = await _execute(backend, op)
            job.limit.succeeded()
            return Outcome(op, "done", group, group.id if group else _target(op), attempts=attempt)
        except DuplicateGroupError as exc:
            uncertain = uncertain or trace.uncertain
            if not (uncertain and isinstance(op, Create)):
                return Outcome(op, "failed", error=exc, attempts=attempt)
            existing = await backend.find(op.group.name)  # taken by our earlier attempt?
            if existing is not None:
                return Outcome(op, "done", existing, existing.id, attempts=attempt)
            return Outcome(op, "failed", error=exc, attempts=attempt)
        except NotFoundError as exc:
            if (uncertain or trace.uncertain) and isinstance(op, Delete):
                return Outcome(op, "done", None, op.group_id, attempts=attempt)  # gone already
            return Outcome(op, "failed", error=exc, attempts=attempt)
        except UnigroupsError as exc:
            if not _retryable(exc) or attempt >= job.max_attempts:
                return Outcome(op, "failed", error=exc, attempts=attempt)
            uncertain = uncertain or trace.uncertain or _fate_unknown(op, exc)
            await _wait_to_retry(job, trace, attempt, exc)


async def _wait_to_retry(job: _Job, trace: _Trace, attempt: int, error: Exception) -> None:
    """Back off before attempt ``attempt + 1``, holding no slot: others use it meanwhile."""
    wait = job.rng.uniform(0, min(10.0, 0.2 * 2**attempt))
    if isinstance(error, RateLimitedError):
        if not trace.told_limit:  # a backend that does not use the shared transport
            job.limit.rate_limited_by_vendor(error.retry_after)
        wait = max(wait, error.retry_after or 0)
    trace.told_limit = False
    await asyncio.sleep(wait)


def _target(op: Operation) -> str | None:
    return op.group_id if isinstance(op, (Update, Delete)) else None


async def _execute(backend: GroupBackend, op: Operation) -> Group | None:
    if isinstance(op, Create):
        return await backend.create(op.group)
    if isinstance(op, Update):
        return await backend.update(op.group_id, op.changes)
    await backend.delete(op.group_id)
    return None
