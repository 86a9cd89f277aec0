"""Ending the server and worker processes that tests start, and reading their logs' tails."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

__all__ = ["end_process", "log_tail"]


def end_process(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send ``sig`` and wait for the end (SIGKILL after 10 s); nothing if it has ended."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def log_tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a log, on one line, for an error message."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "empty log"
