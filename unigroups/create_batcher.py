"""``CreateBatcher``: creates asked for in one turn of the event loop, sent in one call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from .models import Group

__all__ = ["CreateBatcher", "CreateMany"]

CreateMany = Callable[[Sequence[Group]], Awaitable[Sequence[Group | Exception]]]


class CreateBatcher:
    """``create(group)`` for a backend whose calls carry up to ``size`` groups.

    The creates that the batch's tasks ask for while the event loop runs one turn are sent
    together (``size`` at most per call); each caller gets its own entry's group, or raises
    its own entry's error. A call that fails as a whole raises its error in every caller.
    """

    def __init__(self, create_many: CreateMany, size: int) -> None:
        self._create_many = create_many
        self._size = size
        self._pending: list[tuple[Group, asyncio.Future[Group]]] = []
        self._flush_planned = False

    async def create(self, group: Group) -> Group:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Group] = loop.create_future()
        self._pending.append((group, future))
        if len(self._pending) >= self._size:
            self._send(self._take())
        elif not self._flush_planned:
            # After the tasks started in this turn have asked too.
            self._flush_planned = True
            loop.call_soon(self._flush)
        return await future

    def _take(self) -> list[tuple[Group, asyncio.Future[Group]]]:
        taken, self._pending = self._pending[: self._size], self._pending[self._size :]
        return taken

    def _flush(self) -> None:
        self._flush_planned = False
        while self._pending:
            self._send(self._take())

    def _send(self, entries: list[tuple[Group, asyncio.Future[Group]]]) -> None:
        task = asyncio.ensure_future(self._call(entries))
        # Held by the futures' callers; a failure of the call itself reaches them below.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def _call(self, entries: list[tuple[Group, asyncio.Future[Group]]]) -> None:
        try:
            results = await self._create_many([group for group, _future in entries])
        except BaseException as exc:  # the whole call failed: every caller learns why
            for _group, future in entries:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for (_group, future), result in zip(entries, results, strict=True):
            if future.done():
                continue  # its caller gave up (the job ended)
            if isinstance(result, Group):
                future.set_result(result)
            else:
                future.set_exception(result)
