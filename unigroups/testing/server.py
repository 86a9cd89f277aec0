"""Running an emulator app on loopback: in the test's event loop, in a background thread,
or as a process of its own (``python -m unigroups.testing.<vendor>_emulator``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Callable
from types import TracebackType

import attrs
from aiohttp import web

from unigroups.testing.faults import FaultPolicy

__all__ = [
    "ThreadedServer",
    "emulator_arg_parser",
    "fault_policy_from_args",
    "run_forever",
    "serve",
]

LOOPBACK = "127.0.0.1"
# Short, because a test's teardown should not wait on requests a client abandoned.
SHUTDOWN_TIMEOUT = 1.0


@contextlib.asynccontextmanager
async def serve(app: web.Application, *, host: str = LOOPBACK, port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` in the running loop; yields ``"http://127.0.0.1:PORT"``.

    Port 0 picks a free port.
    """
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield f"http://{bound_host}:{bound_port}"
    finally:
        await runner.cleanup()


@attrs.define
class ThreadedServer:
    """An app served from its own event loop in a daemon thread, for synchronous callers.

    ``app_factory`` runs inside that thread (an aiohttp app belongs to one loop), so pass
    e.g. ``emulator.make_app``.  The emulator's state can be read from the caller's thread.
    """

    app_factory: Callable[[], web.Application]
    host: str = LOOPBACK
    port: int = 0
    start_timeout: float = 10.0
    base_url: str | None = attrs.field(default=None, init=False)
    _thread: threading.Thread | None = attrs.field(default=None, init=False)
    _loop: asyncio.AbstractEventLoop | None = attrs.field(default=None, init=False)
    _stop: asyncio.Event | None = attrs.field(default=None, init=False)
    _ready: threading.Event = attrs.field(factory=threading.Event, init=False)
    _error: BaseException | None = attrs.field(default=None, init=False)

    def start(self) -> str:
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.start_timeout):
            raise TimeoutError("emulator did not start in time")
        if self._error is not None or self.base_url is None:
            self._thread.join()
            self._thread = None
            raise RuntimeError("emulator failed to start") from self._error
        return self.base_url

    def stop(self) -> None:
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        thread.join()
        self._thread = self._loop = self._stop = None
        self.base_url = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(); a thread has nobody else to tell
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self.app_factory(), host=self.host, port=self.port) as url:
            self.base_url = url
            self._ready.set()
            await self._stop.wait()


async def _serve_until_signalled(app: web.Application, host: str, port: int, path: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    async with serve(app, host=host, port=port) as url:
        # One line, flushed: a parent process reads it to learn the port.
        print(url + path, flush=True)
        await stop.wait()


def run_forever(app: web.Application, port: int, host: str = LOOPBACK, *, path: str = "") -> None:
    """Serve ``app`` until SIGINT/SIGTERM; prints the base URL (server URL + ``path``)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_signalled(app, host, port, path))


def emulator_arg_parser(
    prog: str, description: str, *, token_help: str = "the access token the emulator accepts"
) -> argparse.ArgumentParser:
    """The options both emulator entry points take."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default=LOOPBACK, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to answers")
    parser.add_argument(
        "--max-in-flight", type=int, default=None, help="answer 429 past N concurrent requests"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for random faults")
    parser.add_argument("--token", default="test-token", help=token_help + " (default %(default)s)")
    return parser


def fault_policy_from_args(args: argparse.Namespace) -> FaultPolicy:
    return FaultPolicy(latency=args.latency, max_in_flight=args.max_in_flight, seed=args.seed)
