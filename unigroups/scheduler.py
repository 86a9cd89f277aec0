"""``Scheduler``: runs a batch's operations, at most N at once and one at a time per group."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TypeAlias

from .errors import BackendError, JournalError
from .executor import Executor
from .operations import Create, Operation, Outcome

__all__ = ["Scheduler"]


def _as_error(exc: BaseException) -> Exception:
    return exc if isinstance(exc, Exception) else RuntimeError(f"{type(exc).__name__} raised")


# What a finished task hands back: its group's lane, its position, its outcome; or the
# JournalError that ends the job.
_Finished: TypeAlias = tuple[str, int, Outcome] | JournalError

LOOK_AHEAD = 4  # operations read ahead per slot, waiting behind a busy group: at most this


class Scheduler:
    """Reads operations lazily and runs them through ``executor``.

    Operations on one group share a lane: the same id, or for creates the same name under
    ``name_key`` (the target's case rules). A lane runs one operation at a time, in input
    order; different lanes run in parallel, up to ``concurrency`` at once. At most
    ``LOOK_AHEAD * concurrency`` operations wait behind busy lanes, so memory stays bounded
    by the concurrency, not by the job. Tasks report through a queue: a completion costs the
    same at any concurrency.
    """

    def __init__(
        self, executor: Executor, concurrency: int, name_key: Callable[[str], str]
    ) -> None:
        self.executor = executor
        self.concurrency = concurrency
        self._name_key = name_key
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()
        self._waiting: dict[str, deque[tuple[int, Operation]]] = {}
        self._queued = 0
        self._running = 0  # started, and their outcome not yet taken from the queue
        self._finished: asyncio.Queue[_Finished] = asyncio.Queue()

    @property
    def in_flight(self) -> int:
        return self._running

    def _lane(self, op: Operation) -> str:
        if isinstance(op, Create):
            return "name:" + self._name_key(op.group.name)
        return "id:" + op.group_id

    def _room(self) -> bool:
        return self._running < self.concurrency and self._queued < LOOK_AHEAD * self.concurrency

    async def run(
        self, operations: AsyncIterator[tuple[int, Operation]]
    ) -> AsyncIterator[tuple[int, Outcome]]:
        """(position, outcome) as each operation ends; skipped ones (done by an earlier run,
        says the journal) at once."""
        exhausted = False
        refused: Exception | None = None  # a bad item in the input: raised once all else ends
        while True:
            while not exhausted and self._room():
                try:
                    number, op = await anext(operations)
                except StopAsyncIteration:
                    exhausted = True
                    break
                except Exception as exc:
                    refused, exhausted = exc, True
                    break
                entry = self.executor.earlier(op)
                if entry is not None and entry.state == "done":
                    yield number, Outcome(op, "skipped", group_id=entry.group_id)
                    continue
                lane = self._lane(op)
                if lane in self._busy:
                    self._waiting.setdefault(lane, deque()).append((number, op))
                    self._queued += 1
                else:
                    self._busy.add(lane)
                    self._start(lane, number, op)
            if not self._running:  # nothing runs, so nothing waits: the input is done
                if refused is not None:
                    raise refused
                return
            finished = await self._finished.get()
            if isinstance(finished, JournalError):
                raise finished
            lane, number, outcome = finished
            self._running -= 1
            self._next_in(lane)
            yield number, outcome

    def _next_in(self, lane: str) -> None:
        waiting = self._waiting.get(lane)
        if waiting:
            self._queued -= 1
            number, op = waiting.popleft()
            if not waiting:
                del self._waiting[lane]
            self._start(lane, number, op)
        else:
            self._busy.discard(lane)

    def _start(self, lane: str, number: int, op: Operation) -> None:
        self._running += 1
        task = asyncio.create_task(self._perform(lane, number, op))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _perform(self, lane: str, number: int, op: Operation) -> None:
        try:
            outcome = await self._outcome_of(op)
        except JournalError as exc:
            self._finished.put_nowait(exc)
            return
        except asyncio.CancelledError:
            raise  # the job is ending
        except BaseException as exc:  # the last fence: a task never ends without a word
            outcome = Outcome(op, "failed", error=_as_error(exc), attempts=1, in_doubt=True)
        self._finished.put_nowait((lane, number, outcome))

    async def _outcome_of(self, op: Operation) -> Outcome:
        try:
            return await self.executor.run(op)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the job is ending
            # The backend raised CancelledError itself: an error of that call.
            error = BackendError(
                "the backend raised CancelledError during the call; it was not cancelled",
                backend=self.executor.backend.name,
            )
            return await self.executor.failed(op, error)
        except JournalError:
            raise
        except Exception as exc:  # never lose an operation, whatever went wrong
            return await self.executor.failed(op, exc)

    async def stop(self) -> None:
        """Cancel what still runs (the job ended early) and wait for it to be gone."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
