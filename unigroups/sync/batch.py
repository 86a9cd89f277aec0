"""Batch jobs for blocking callers: :func:`unigroups.batch.run_batch` on a ``SyncBackend``.

The job runs on the backend's event loop. The caller's own code runs in the caller's
thread, which waits for the job meanwhile: a generator of operations is read there (a few
at a time, as the job needs them), and ``on_progress`` is called there, so either may use
thread-bound state (a Django queryset, a database connection) or block for a moment
without holding up the requests in flight.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Generic, TypeVar

from .. import batch
from ..batch import BatchReport, Keep, Progress, ProgressCallback
from ..journal import JournalStore
from ..operations import Operation
from ._portal import CallerThread
from .backend import SyncBackend

__all__ = ["run_batch"]

T = TypeVar("T")

# Operations read from a caller's generator per trip to its thread: enough to keep a wide
# job fed at few thread switches, few enough that reading stays lazy.
CHUNK = 64


def run_batch(
    backend: SyncBackend,
    operations: Iterable[Operation],
    *,
    concurrency: int | None = None,
    journal: str | os.PathLike[str] | JournalStore | None = None,
    durable: bool = False,
    on_progress: Callable[[Progress], object] | None = None,
    keep: Keep = "all",
) -> BatchReport:
    """Run every operation on ``backend``; block until the report is ready.

    The same job, arguments, report and errors as :func:`unigroups.batch.run_batch`; the
    operations and ``on_progress`` are read and called in the calling thread.

    ```python
    from unigroups import Group
    from unigroups.batch import Create
    from unigroups.sync import open_backend, run_batch

    with open_backend("memory") as backend:
        report = run_batch(backend, [Create(Group(name=f"team {n}")) for n in range(10)])
        print(report.done, report.ok)  # 10 True
    ```
    """
    return backend._job(
        lambda target, caller: batch.run_batch(
            target,
            in_caller_thread(operations, caller),
            concurrency=concurrency,
            journal=journal,
            durable=durable,
            on_progress=progress_in(caller, on_progress),
            keep=keep,
        )
    )


def in_caller_thread(
    operations: Iterable[T], caller: CallerThread
) -> Iterable[T] | AsyncIterable[T]:
    """``operations`` as the async job reads them: a list or tuple as it is (checked whole
    before anything runs), any other iterable read in the caller's thread, lazily."""
    if isinstance(operations, (list, tuple, str, bytes)) or not isinstance(operations, Iterable):
        return operations  # run_batch checks it (a string is refused there)
    return _pulled(operations, caller)


async def _pulled(operations: Iterable[T], caller: CallerThread) -> AsyncIterator[T]:
    reader = _ChunkReader(operations)
    while chunk := await caller.run(reader.chunk):
        for item in chunk:
            yield item


class _ChunkReader(Generic[T]):
    """Reads a caller's iterable a chunk at a time, in the caller's thread. An error the
    iterable raises mid-chunk comes after the items read before it, as it would unchunked."""

    def __init__(self, operations: Iterable[T]) -> None:
        self._operations = operations
        self._items: Iterator[T] | None = None
        self._error: Exception | None = None

    def chunk(self) -> list[T]:
        if self._error is not None:
            raise self._error
        if self._items is None:
            self._items = iter(self._operations)
        chunk: list[T] = []
        try:
            for item in itertools.islice(self._items, CHUNK):
                chunk.append(item)
        except Exception as exc:
            if not chunk:
                raise
            self._error = exc
        return chunk


def progress_in(
    caller: CallerThread, on_progress: Callable[[Progress], object] | None
) -> ProgressCallback | None:
    """``on_progress`` as the async job calls it: run in the caller's thread."""
    if on_progress is None:
        return None

    async def report(progress: Progress) -> None:
        await caller.run(functools.partial(on_progress, progress))

    return report
