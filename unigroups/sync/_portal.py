"""``Portal``: one event loop in one daemon thread, and blocking calls into it from any thread.

A caller blocked in :meth:`Portal.call` lends its thread to the loop: code that must not run
on the loop (a caller's generator of operations, a progress callback) is handed back to the
waiting thread through :class:`CallerThread`, so it runs where the caller's own state lives
(thread-local database connections, for one) and never stalls the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

__all__ = ["END", "CallerThread", "LoopThread", "Portal"]

P = ParamSpec("P")
T = TypeVar("T")

# How often a blocked caller checks that the loop thread is still alive; only a loop thread
# that died without closing (a bug) is noticed this way, everything else wakes it at once.
_ALIVE_CHECK = 1.0
# Closing cancels the calls still in flight and closes the backend; all of it is bounded.
CLOSE_TIMEOUT = 10.0


class _End(enum.Enum):
    END = "end"


#: What :meth:`Portal.next_item` returns once an async iterator is exhausted.
END = _End.END


class LoopThread(threading.Thread):
    """The daemon thread that runs one portal's event loop until it is stopped."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.loop = asyncio.new_event_loop()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            try:
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.run_until_complete(self.loop.shutdown_default_executor())
            finally:
                self.loop.close()


_Errand = tuple[Callable[[], Any], "concurrent.futures.Future[Any]"]


class CallerThread:
    """The thread blocked in :meth:`Portal.lend`, lent to the loop for the call's duration.

    Its inbox gets the errands the loop hands it and, last, the call's finished task.
    """

    def __init__(self) -> None:
        self._inbox: queue.SimpleQueue[_Errand | asyncio.Task[Any]] = queue.SimpleQueue()
        self._task: asyncio.Task[Any] | None = None
        self._cancelled = False

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` in the caller's thread and return what it returns (or raise its error).

        Awaited on the loop; the loop goes on serving other calls meanwhile.
        """
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._inbox.put((fn, done))
        return await asyncio.wrap_future(done)

    def start(self, fn: Callable[[CallerThread], Awaitable[Any]]) -> None:
        """On the loop: run ``fn(self)`` as a task; the caller is told when it ends."""
        if self._cancelled:
            return
        # fn is called inside the task: an error it raises at once ends the call too.
        self._task = asyncio.get_running_loop().create_task(_started(fn, self))
        self._task.add_done_callback(self._inbox.put)

    def cancel(self) -> None:
        """On the loop: the caller stopped waiting (Ctrl-C); cancel the call."""
        self._cancelled = True
        if self._task is not None:
            self._task.cancel()

    def serve(self, thread: threading.Thread) -> asyncio.Task[Any]:
        """In the caller's thread: run errands until the call ends; its finished task."""
        while True:
            try:
                item = self._inbox.get(timeout=_ALIVE_CHECK)
            except queue.Empty:
                if not thread.is_alive():
                    raise RuntimeError(f"the event loop thread {thread.name} ended") from None
                continue
            if isinstance(item, asyncio.Task):
                return item
            fn, done = item
            if not done.set_running_or_notify_cancel():
                continue  # the call that asked for it is gone (cancelled)
            try:
                result = fn()
            except Exception as exc:  # the call on the loop raises it, as the async API would
                done.set_exception(exc)
            else:
                done.set_result(result)


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def _started(fn: Callable[[CallerThread], Awaitable[T]], caller: CallerThread) -> T:
    return await fn(caller)


class Portal:
    """An event loop in a thread of its own, and blocking calls into it from other threads.

    Every call from a thread that is not the loop's runs as a task of that one loop, so
    whatever the coroutines share (an aiohttp session and its pooled connections, a throttle)
    lives as long as the portal, whichever thread calls. A call from the loop's own thread
    (or any portal's) would wait for itself: it raises ``RuntimeError`` at once instead.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._thread = LoopThread(f"unigroups.sync {name}")
        self._lock = threading.Lock()
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()  # listings closed in the background
        self._thread.start()

    def __repr__(self) -> str:
        return f"Portal({self.name!r}, closed={self._closed})"

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._thread.loop

    def check_thread(self) -> None:
        """RuntimeError if blocking this thread would stop a portal's loop (a deadlock)."""
        current = threading.current_thread()
        if isinstance(current, LoopThread):
            raise RuntimeError(
                f"a blocking unigroups.sync call on the event loop thread {current.name!r} "
                "would wait for itself; code that runs on that loop (a member_map callable, "
                "a custom backend) must use the async API"
            )

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self.name}: the backend is closed")

    def submit(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        """Start ``fn(*args, **kwargs)`` on the loop; a future of its result (never blocks)."""
        with self._lock:
            self._check_open()
            return asyncio.run_coroutine_threadsafe(_awaited(fn(*args, **kwargs)), self.loop)

    def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` on the loop and wait for its result or its error."""
        return self.lend(lambda _caller: fn(*args, **kwargs))

    def lend(self, fn: Callable[[CallerThread], Awaitable[T]]) -> T:
        """Run ``fn(caller)`` on the loop and wait; meanwhile this thread runs what the loop
        hands it through ``caller``. Interrupting the wait (Ctrl-C) cancels the call."""
        self.check_thread()
        caller = CallerThread()
        try:
            with self._lock:
                self._check_open()
                # Cheaper than run_coroutine_threadsafe (no future chained to the task): the
                # finished task itself is put in the caller's inbox.
                self.loop.call_soon_threadsafe(caller.start, fn)
            finished = caller.serve(self._thread)
        except BaseException:  # Ctrl-C, or an errand that raised it: the call is abandoned
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to cancel
                self.loop.call_soon_threadsafe(caller.cancel)
            raise
        if finished.cancelled() and self._closed:
            raise RuntimeError(f"{self.name}: the backend was closed while this call was in flight")
        result: T = finished.result()  # the call's error, if it raised one
        return result

    async def start_listing(self, make: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        """``make()`` called on the loop (a backend's listing is created where it runs)."""
        return make()

    async def next_item(self, items: AsyncIterator[T]) -> T | _End:
        """The next item of ``items``, or END."""
        return await anext(items, END)

    def close_listing(self, items: AsyncIterator[Any]) -> None:
        """Close an async iterator a caller left (its ``finally`` blocks run on the loop).

        Waits for it from an ordinary thread; from a loop thread (a generator finalised by
        the garbage collector there) it is only scheduled; after close there is nothing to
        do: closing the portal closed every async generator still open.
        """
        aclose: Callable[[], Awaitable[None]] | None = getattr(items, "aclose", None)
        if aclose is None or self._closed:
            return
        if isinstance(threading.current_thread(), LoopThread):
            self.loop.call_soon_threadsafe(self._close_soon, aclose)
            return
        try:
            self.call(aclose)
        except RuntimeError:
            if not self._closed:  # closed meanwhile by another thread: nothing left to do
                raise

    def close(self, aclose: Callable[[], Awaitable[None]] | None = None) -> None:
        """Cancel the calls in flight, await ``aclose()`` on the loop, stop the loop and
        join its thread, all within CLOSE_TIMEOUT. Idempotent.

        From a loop thread (a finaliser run by the garbage collector there) the same is
        scheduled, not waited for.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        finished = asyncio.run_coroutine_threadsafe(self._finish(aclose), self.loop)
        if isinstance(threading.current_thread(), LoopThread):
            return
        try:
            finished.result(CLOSE_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(
                f"{self.name}: closing took longer than {CLOSE_TIMEOUT:g} s; its thread was "
                "left to finish on its own"
            ) from None
        finally:
            self._thread.join(CLOSE_TIMEOUT)

    async def _finish(self, aclose: Callable[[], Awaitable[None]] | None) -> None:
        try:
            # Every task on this loop is a call (or a listing being closed): the loop is ours.
            in_flight = asyncio.all_tasks() - {asyncio.current_task()}
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.wait(in_flight, timeout=CLOSE_TIMEOUT)
            if aclose is not None:
                await aclose()
        finally:
            self.loop.stop()

    def _close_soon(self, aclose: Callable[[], Awaitable[None]]) -> None:
        # Held in _closing until it ends (a task only weakly held may vanish mid-way), and so
        # cancelled and awaited by close() like any call.
        task = self.loop.create_task(_awaited(aclose()))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
