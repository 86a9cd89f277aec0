"""Batch jobs that lose nothing: many creates, updates and deletes over one backend.

Every operation ends in exactly one :class:`Outcome`: done (everything it asked for is on the
vendor), failed (with its typed error), or skipped (done by an earlier run, according to the
journal). The backend's transport retries and throttles each request; the batch adds only
what needs the whole job: the journal, per-group ordering, and looking before re-creating a
group whose create may have happened.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sized,
)
from typing import Any, Literal, TypeAlias

import attrs

from .errors import JournalError, TransportError, ValidationError
from .executor import Executor
from .http import RetryPolicy, Throttle
from .journal import Journal, JournalStore, JournalTarget
from .operations import Create, Delete, Operation, Outcome, Update, check_operation
from .protocol import GroupBackend
from .scheduler import Scheduler

__all__ = [
    "BatchReport",
    "BatchRun",
    "Create",
    "Delete",
    "Operation",
    "Outcome",
    "Progress",
    "StopCondition",
    "StopWhenUnreachable",
    "Update",
    "iter_batch",
    "run_batch",
]


Keep = Literal["all", "failures"]


@attrs.frozen
class Progress:
    """Sent to ``on_progress`` after every outcome. ``total`` is None for an input of
    unknown length (a generator)."""

    total: int | None
    done: int
    failed: int
    skipped: int
    retried: int
    in_flight: int
    concurrency: int  # the backend's throttle limit now (the batch's when it has none)
    rate_limited: int  # 429 answers the backend's throttle has seen
    elapsed: float

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped


@attrs.frozen
class BatchReport:
    """A finished job. ``outcomes``: every operation's, in input order (``keep="all"``), or
    only the failures (``keep="failures"``); the counts cover every operation either way."""

    outcomes: tuple[Outcome, ...]
    elapsed: float
    rate_limited: int
    concurrency: int  # the throttle's limit when the job ended
    done: int = 0
    failed: int = 0
    skipped: int = 0
    retried: int = 0  # operations that needed more than one backend call

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def __str__(self) -> str:
        total = self.done + self.failed + self.skipped
        return (
            f"{total} operations: {self.done} done, {self.failed} failed, "
            f"{self.skipped} already done (journal), {self.retried} retried "
            f"in {self.elapsed:.1f}s"
        )


ProgressCallback = Callable[[Progress], Awaitable[None] | None]
#: Asked after every outcome; an exception it returns ends the job at once with it
#: (operations in flight are cancelled and stay "started" in the journal: a re-run looks
#: them up).
StopCondition = Callable[[Outcome], Exception | None]


class StopWhenUnreachable:
    """A stop condition: the target could not be reached (connection refused, a name that
    does not resolve, no connection in time) for ``limit`` sends in a row across the job.

    Each operation's failed call counts the sends it made (``error.attempts``); any other
    outcome (done, or refused by the vendor) resets the count. Without it, a target that
    goes down mid-job is retried operation after operation until the job runs out.
    """

    def __init__(self, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError(f"must be an int of at least 1, not {limit!r}", field="limit")
        self.limit = limit
        self.in_a_row = 0

    def __call__(self, outcome: Outcome) -> Exception | None:
        error = outcome.error
        if outcome.status == "skipped":
            return None
        if not (isinstance(error, TransportError) and error.request_sent is False):
            self.in_a_row = 0
            return None
        self.in_a_row += error.attempts or 1
        if self.in_a_row < self.limit:
            return None
        return TransportError(
            f"stopped: the target could not be reached for {self.in_a_row} sends in a row; "
            f"last: {error}",
            backend=error.backend,
            request_sent=False,
        )


Operations: TypeAlias = Iterable[Operation] | AsyncIterable[Operation]


def _check_concurrency(value: object) -> int:
    if value is None:
        return 10
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"must be an int of at least 1, not {value!r}", field="concurrency")
    return value


class BatchRun:
    """One run of a batch: iterate it for outcomes as they complete.

    The journal (a path, opened and locked when iteration starts, before anything is sent;
    or a :class:`JournalStore` the caller opened, such as a :class:`Journal`) makes a re-run
    skip what is done. ``progress()`` tells where the job stands at any moment.
    """

    def __init__(
        self,
        backend: GroupBackend,
        operations: Operations,
        *,
        concurrency: int | None = None,
        journal: str | os.PathLike[str] | JournalStore | None = None,
        durable: bool = False,
        stop_when: StopCondition | None = None,
    ) -> None:
        self.backend = backend
        self._stop_when = stop_when
        self.concurrency = _check_concurrency(concurrency)
        if isinstance(operations, (str, bytes)) or not isinstance(
            operations, (Iterable, AsyncIterable)
        ):
            raise ValidationError(
                f"must be an iterable of operations, not {type(operations).__name__}",
                field="operations",
            )
        if isinstance(operations, (list, tuple)):
            _check_all(operations)  # a list is checked whole before anything runs
        self._operations = operations
        self.total = len(operations) if isinstance(operations, Sized) else None
        if journal is not None and not isinstance(journal, (str, os.PathLike, JournalStore)):
            raise ValidationError(
                f"must be a path or a JournalStore (such as a Journal), not "
                f"{type(journal).__name__}",
                field="journal",
            )
        self._journal_option = journal
        self._durable = durable
        self.throttle: Throttle | None = getattr(backend, "throttle", None)
        policy: RetryPolicy | None = getattr(backend, "retry_policy", None)
        self._send_budget = (policy or RetryPolicy()).attempts
        self.counts = {"done": 0, "failed": 0, "skipped": 0, "retried": 0}
        self._scheduler: Scheduler | None = None
        self.started = time.monotonic()

    def progress(self) -> Progress:
        stats = self.throttle.stats if self.throttle is not None else None
        return Progress(
            total=self.total,
            done=self.counts["done"],
            failed=self.counts["failed"],
            skipped=self.counts["skipped"],
            retried=self.counts["retried"],
            in_flight=self._scheduler.in_flight if self._scheduler else 0,
            concurrency=stats.limit if stats else self.concurrency,
            rate_limited=stats.rate_limited if stats else 0,
            elapsed=time.monotonic() - self.started,
        )

    def __aiter__(self) -> AsyncIterator[Outcome]:
        return self._outcomes()

    async def _outcomes(self) -> AsyncIterator[Outcome]:
        # Closed with this iterator: leaving the loop early releases the journal at once.
        async with contextlib.aclosing(self.numbered()) as numbered:
            async for _number, outcome in numbered:
                yield outcome

    def _count(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        self.counts["retried"] += outcome.attempts > 1

    def _open_journal(self) -> tuple[JournalStore | None, Journal | None]:
        """The store to record in, and the file journal this run opened (and closes)."""
        option = self._journal_option
        target = JournalTarget.of(self.backend)
        if option is None:
            return None, None
        if isinstance(option, JournalStore):
            if option.target != target:  # the same rule as for a path
                raise JournalError(
                    f"the journal {option.location} was opened for {option.target}, not for "
                    f"{target}: a journal belongs to one target",
                    path=option.location,
                )
            return option, None
        opened = Journal.open(option, target=target, durable=self._durable)
        return opened, opened

    async def numbered(self) -> AsyncGenerator[tuple[int, Outcome], None]:
        """(input position, outcome) as each operation ends."""
        journal, owned = self._open_journal()  # locked before anything is sent
        executor = Executor(self.backend, journal, self._send_budget)
        # ``concurrency`` counts calls: where one call carries several creates (max_batch),
        # that many more operations are kept in flight to fill them.
        width = self.concurrency * executor.per_call
        scheduler = Scheduler(executor, width, self.backend.capabilities.name_key)
        self._scheduler = scheduler
        self.started = time.monotonic()
        source = _numbered(self._operations)
        try:
            async for number, outcome in scheduler.run(source):
                self._count(outcome)
                yield number, outcome
                stop = self._stop_when(outcome) if self._stop_when is not None else None
                if stop is not None:
                    raise stop
        finally:
            await scheduler.stop()
            await source.aclose()
            if owned is not None:
                await owned.aclose()


#: The async-iterator form: ``async for outcome in iter_batch(backend, operations): ...``
#: (the same arguments as run_batch, less on_progress and keep).
iter_batch = BatchRun


async def run_batch(
    backend: GroupBackend,
    operations: Operations,
    *,
    concurrency: int | None = None,
    journal: str | os.PathLike[str] | JournalStore | None = None,
    durable: bool = False,
    on_progress: ProgressCallback | None = None,
    keep: Keep = "all",
    stop_when: StopCondition | None = None,
) -> BatchReport:
    """Run every operation; the report holds one outcome for each, in input order.

    ``concurrency`` is the most operations in flight (default 10); the backend's throttle
    decides how many of their requests are sent at once, and its retry policy how often
    each is sent. Operations on one group (one id; for creates, one name under the target's
    case rules) run one after another, in the order given. With a ``journal`` file, running
    the same operations again skips what is done and looks up what is in doubt; ``durable``
    syncs it to disk. ``keep="failures"`` keeps only failed outcomes (and the counts), for
    jobs too large to hold every outcome. ``stop_when`` (e.g. ``StopWhenUnreachable``)
    may end the job early with the error it returns.
    """
    if keep not in ("all", "failures"):
        raise ValidationError(f"must be 'all' or 'failures', not {keep!r}", field="keep")
    run = iter_batch(
        backend,
        operations,
        concurrency=concurrency,
        journal=journal,
        durable=durable,
        stop_when=stop_when,
    )
    kept: list[tuple[int, Outcome]] = []
    async with contextlib.aclosing(run.numbered()) as outcomes:
        async for number, outcome in outcomes:
            if keep == "all" or outcome.status == "failed":
                kept.append((number, outcome))
            if on_progress is not None:
                result = on_progress(run.progress())
                if inspect.isawaitable(result):
                    await result
    end = run.progress()
    kept.sort(key=lambda pair: pair[0])
    return BatchReport(
        outcomes=tuple(outcome for _number, outcome in kept),
        elapsed=time.monotonic() - run.started,
        rate_limited=end.rate_limited,
        concurrency=end.concurrency,
        done=end.done,
        failed=end.failed,
        skipped=end.skipped,
        retried=end.retried,
    )


def _check_all(operations: list[Any] | tuple[Any, ...]) -> None:
    seen: set[str] = set()
    for number, item in enumerate(operations):
        _unique(check_operation(item, number), seen)


async def _numbered(operations: Operations) -> AsyncGenerator[tuple[int, Operation], None]:
    """The operations, read lazily, checked one by one, with their position (a list was
    checked whole when the run was made)."""
    if isinstance(operations, (list, tuple)):
        for number, op in enumerate(operations):
            yield number, op
        return
    seen: set[str] = set()
    number = 0
    if isinstance(operations, AsyncIterable):
        async for item in operations:
            yield number, _unique(check_operation(item, number), seen)
            number += 1
    else:
        for item in operations:
            yield number, _unique(check_operation(item, number), seen)
            number += 1


def _unique(op: Operation, seen: set[str]) -> Operation:
    if op.key in seen:
        raise ValidationError(f"two operations share the key {op.key!r}", field="operations")
    seen.add(op.key)
    return op
