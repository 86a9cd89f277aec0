"""Real Celery worker processes of ``unigroups.testing.celery_app``, started and killed here.

Each worker is a process of its own (a thread pool inside), so a test can kill one with
SIGKILL mid-job and watch the others finish its parts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from unigroups.testing.processes import end_process, log_tail

__all__ = ["CeleryWorkers", "WorkersError"]


class WorkersError(RuntimeError):
    """A worker did not start (its log's tail is in the message)."""


class CeleryWorkers:
    """``count`` worker processes serving jobs on the emulators' URLs through ``redis_url``."""

    def __init__(
        self,
        count: int,
        *,
        redis_url: str,
        emulators: list[str],
        cap: int = 10,
        lease: float = 5.0,
        visibility_timeout: float = 8.0,
        threads: int = 4,
        concurrency: int = 10,
        token: str = "test-token",
        start_timeout: float = 60.0,
    ) -> None:
        self.count = count
        self.threads = threads
        self.start_timeout = start_timeout
        self.folder = Path(tempfile.mkdtemp(prefix="unigroups-workers-"))
        self.environment = {
            **os.environ,
            "UNIGROUPS_WORKER_REDIS": redis_url,
            "UNIGROUPS_WORKER_EMULATORS": json.dumps(emulators),
            "UNIGROUPS_WORKER_CAP": str(cap),
            "UNIGROUPS_WORKER_LEASE": str(lease),
            "UNIGROUPS_WORKER_VISIBILITY": str(visibility_timeout),
            "UNIGROUPS_WORKER_CONCURRENCY": str(concurrency),
            "UNIGROUPS_EMULATOR_TOKEN": token,  # the workers' secret, never in a message
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def log(self, number: int) -> Path:
        return self.folder / f"worker{number}.log"

    def start(self) -> CeleryWorkers:
        for number in range(self.count):
            arguments = [
                sys.executable, "-m", "celery", "-A", "unigroups.testing.celery_app",
                "worker", "-P", "threads", "-c", str(self.threads),
                "-n", f"worker{number}@127.0.0.1", "-l", "info",
                "--logfile", str(self.log(number)),
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ]  # fmt: skip
            self.processes.append(
                subprocess.Popen(
                    arguments,
                    env=self.environment,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + self.start_timeout
        for number, process in enumerate(self.processes):
            while not self._ready(number):
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = self._tail(number)
                    self.stop()
                    raise WorkersError(f"worker {number} did not start: {tail}")
                time.sleep(0.05)
        return self

    def _ready(self, number: int) -> bool:
        try:
            return " ready." in self.log(number).read_text(errors="replace")
        except OSError:
            return False

    def _tail(self, number: int) -> str:
        return log_tail(self.log(number), 8)

    def kill(self, number: int) -> int:
        """SIGKILL worker ``number`` (nothing of it runs after); return its pid."""
        process = self.processes[number]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        return process.pid

    def stop(self) -> None:
        for process in self.processes:
            end_process(process, signal.SIGTERM)

    def __enter__(self) -> CeleryWorkers:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
