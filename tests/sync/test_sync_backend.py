"""The blocking facade: one loop and one connection pool for every call, from any thread;
the same models and errors as the async API; closing that is prompt and complete."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiohttp import web

from unigroups import (
    Group,
    GroupChanges,
    Member,
    MemberKind,
    NotFoundError,
    UnknownBackendError,
    ValidationError,
)
from unigroups.backends.memory import MemoryBackend
from unigroups.sync import SyncBackend, SyncDirectoryBackend, open_backend, wrap
from unigroups.testing.server import ThreadedServer
from unigroups.testing.zoho_emulator import ZohoEmulator

TOKEN = "test-token"


class Served:
    """A Zoho emulator served from a thread, recording the client connections it sees."""

    def __init__(self, emulator: ZohoEmulator) -> None:
        self.emulator = emulator
        self.peers: set[tuple[str, int]] = set()
        self.url = ""

    def make_app(self) -> web.Application:
        app = self.emulator.make_app()

        @web.middleware
        async def record_peer(request: web.Request, handler: web.Handler) -> web.StreamResponse:
            assert request.transport is not None
            self.peers.add(request.transport.get_extra_info("peername")[:2])
            return await handler(request)

        app.middlewares.insert(0, record_peer)
        return app

    def open(self, **options: object) -> SyncBackend:
        return open_backend("zoho", api_domain=self.url, access_token=TOKEN, **options)


@pytest.fixture
def zoho() -> Iterator[Served]:
    served = Served(ZohoEmulator(record_requests=False))
    with ThreadedServer(served.make_app) as url:
        served.url = url
        yield served


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("unigroups.sync")]


def wait_for(condition: object, what: str) -> None:
    """Poll ``condition()`` for at most 10 s (the emulator's state is read across threads)."""
    for _ in range(1000):
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


# -- one loop, one connection pool, one throttle ---------------------------------------------


def test_calls_reuse_one_loop_thread_and_one_connection(zoho: Served) -> None:
    before = set(loop_threads())
    with zoho.open() as backend:
        (thread,) = set(loop_threads()) - before
        for n in range(30):
            created = backend.create(Group(name=f"seq {n}"))
            assert created.id is not None
            assert backend.get(created.id).name == f"seq {n}"
        # Calls from other threads, one after another, go through the same pool too.
        for n in range(5):
            worker = threading.Thread(target=backend.find, args=(f"seq {n}",))
            worker.start()
            worker.join()
        assert set(loop_threads()) - before == {thread}
        assert len(zoho.peers) == 1, f"one keep-alive connection expected: {zoho.peers}"
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.slow
def test_eight_threads_of_a_hundred_calls_share_the_backend(zoho: Served) -> None:
    start = threading.Barrier(8)

    def worker(slot: int) -> list[Group]:
        start.wait()
        made = []
        for n in range(50):
            group = backend.create(
                Group(name=f"t{slot} g{n}", members=[Member(MemberKind.USER, str(7000 + n))])
            )
            assert group.id is not None
            made.append(backend.update(group.id, GroupChanges(description=f"slot {slot}")))
        return made

    with zoho.open() as backend, ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(worker, slot) for slot in range(8)]
        results = [f.result() for f in futures]
        listed = {g.name: g for g in backend.groups()}
    made = [g for groups in results for g in groups]
    assert len(made) == 400 and len({g.id for g in made}) == 400
    stored = zoho.emulator.groups
    assert len(stored) == 400 == len(listed)
    for group in made:
        assert group.id is not None
        assert stored[group.id].name == group.name
        assert stored[group.id].description == group.description == listed[group.name].description
        assert [m.id for m in group.members or ()] == [str(7000 + int(group.name.split("g")[-1]))]
    # One pool for all eight threads: no more connections than requests ever in flight.
    assert len(zoho.peers) <= 20


@pytest.mark.slow
def test_the_throttle_learns_across_calls_and_threads(zoho: Served) -> None:
    zoho.emulator.faults.max_in_flight = 2  # 429 past 2 requests in flight,
    zoho.emulator.faults.latency = 0.01  # which overlap
    with zoho.open(max_concurrency=8) as backend:
        assert backend.throttle_stats is not None
        assert backend.throttle_stats.limit == 8
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: backend.create(Group(name=f"busy {n}")), range(60)))
        learnt = backend.throttle_stats
        assert learnt.rate_limited > 0
        assert learnt.limit < 8  # 429s lowered it, for every later call
        backend.create(Group(name="one more"))
        assert backend.throttle_stats.rate_limited >= learnt.rate_limited
    assert len(zoho.emulator.groups) == 61


# -- same models, same errors ----------------------------------------------------------------


def test_errors_are_the_async_apis(zoho: Served) -> None:
    with zoho.open() as backend:
        assert isinstance(backend, SyncDirectoryBackend)
        with pytest.raises(NotFoundError) as missing:
            backend.get("2147480001")
        assert missing.value.backend == "zoho" and missing.value.status is not None
        with pytest.raises(ValidationError) as bad:
            backend.delete("../1")
        assert bad.value.field == "group_id"
        with pytest.raises(NotFoundError):
            backend.get_user("2147480002")
        listing = backend.members("not digits")  # lazy: nothing happens until it is read
        with pytest.raises(ValidationError):
            next(listing)


def test_open_backend_refuses_a_bad_name_and_leaves_no_thread() -> None:
    before = set(loop_threads())
    with pytest.raises(UnknownBackendError):
        open_backend("zohoo")
    assert set(loop_threads()) == before


def test_wrap_refuses_what_is_not_a_backend() -> None:
    with pytest.raises(TypeError, match="GroupBackend"):
        wrap(object())  # type: ignore[arg-type]


def test_listings_page_lazily(zoho: Served) -> None:
    with zoho.open() as backend:
        for n in range(5):
            backend.create(Group(name=f"lazy {n}"))
        listing = backend.groups()
        assert zoho.emulator.stats.requests == 5  # nothing asked for yet
        assert next(listing).name == "lazy 0"
        assert zoho.emulator.stats.requests == 6
        assert [g.name for g in listing] == [f"lazy {n}" for n in range(1, 5)]


# -- closing ---------------------------------------------------------------------------------


class ClosingMemory(MemoryBackend):
    """A memory backend whose listings say when they are closed (at the loop's side)."""

    def __init__(self) -> None:
        super().__init__()
        self.closed_listings = 0
        self.loop_thread: threading.Thread | None = None

    async def groups(self, *, include_inactive: bool = False) -> AsyncIterator[Group]:  # type: ignore[override]
        self.loop_thread = threading.current_thread()
        try:
            async for group in super().groups(include_inactive=include_inactive):
                yield group
        finally:
            self.closed_listings += 1


def test_a_listing_left_half_way_is_closed() -> None:
    memory = ClosingMemory()
    with wrap(memory) as backend:
        for n in range(3):
            backend.create(Group(name=f"g{n}"))
        first = backend.groups()
        assert next(first).name == "g0"
        first.close()
        assert memory.closed_listings == 1
        dropped = backend.groups()
        next(dropped)
        del dropped  # dropped half-way: closed as the generator is finalised
        gc.collect()
        assert memory.closed_listings == 2
        left_open = backend.groups()
        next(left_open)
    # Closing the backend closed the listing still open; reading it now is an error.
    assert memory.closed_listings == 3
    with pytest.raises(RuntimeError, match="closed"):
        next(left_open)


def test_a_closed_backend_refuses_calls_at_once() -> None:
    backend = open_backend("memory")
    backend.create(Group(name="x"))
    backend.close()
    backend.close()  # idempotent
    assert backend.closed
    with pytest.raises(RuntimeError, match="closed"):
        backend.find("x")
    with pytest.raises(RuntimeError, match="closed"):
        list(backend.groups())


def test_closing_cancels_a_call_in_flight_in_another_thread(zoho: Served) -> None:
    backend = zoho.open()
    zoho.emulator.faults.latency = 60.0  # the call would wait a minute for its answer
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            backend.create(Group(name="slow"))
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_for(lambda: zoho.emulator.stats.in_flight == 1, "the request reached the emulator")
    backend.close()
    caller.join(10)
    assert not caller.is_alive()
    (error,) = outcome
    assert isinstance(error, RuntimeError)
    assert "closed while this call was in flight" in str(error)
    zoho.emulator.faults.latency = 0.0


def test_a_facade_dropped_unclosed_stops_its_thread() -> None:
    before = set(loop_threads())
    backend = open_backend("memory")
    (thread,) = set(loop_threads()) - before
    del backend
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()


# -- where it may be called from -------------------------------------------------------------


def test_a_call_from_its_own_loop_is_an_error_not_a_deadlock() -> None:
    facade: list[SyncBackend] = []

    class Reentrant(MemoryBackend):
        async def find(self, name: str) -> Group | None:
            return facade[0].get("1")  # blocking on the loop this very call runs on

    with wrap(Reentrant()) as backend:
        facade.append(backend)
        backend.create(Group(name="a"))
        with pytest.raises(RuntimeError, match="would wait for itself"):
            backend.find("a")
        assert backend.get("1").name == "a"


async def test_usable_from_worker_threads_of_a_running_loop() -> None:
    with open_backend("memory") as backend:
        created = await asyncio.gather(
            *(asyncio.to_thread(backend.create, Group(name=f"w{n}")) for n in range(20))
        )
        assert sorted(g.name for g in created) == sorted(f"w{n}" for n in range(20))
        names = await asyncio.to_thread(lambda: [g.name for g in backend.groups()])
        assert len(names) == 20


def test_ctrl_c_while_waiting_cancels_the_call_on_the_loop() -> None:
    started, cancelled = threading.Event(), threading.Event()

    class Hanging(MemoryBackend):
        async def find(self, name: str) -> Group | None:
            started.set()
            try:
                await asyncio.Event().wait()  # an answer that never comes
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return None

    def interrupt() -> None:
        if started.wait(10):
            os.kill(os.getpid(), signal.SIGINT)

    with wrap(Hanging()) as backend:
        threading.Thread(target=interrupt).start()
        with pytest.raises(KeyboardInterrupt):
            backend.find("anything")
        assert cancelled.wait(10)
        assert backend.create(Group(name="still usable")).id == "1"
