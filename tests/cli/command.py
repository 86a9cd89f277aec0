"""Running the real command in a subprocess, as a user would, and the emulators it talks to."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PYTHON = [sys.executable, "-m", "unigroups"]
TOKEN = "test-token"


def run(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``unigroups ARGS`` to its end, without a terminal (standard input is empty)."""
    return subprocess.run(
        [*PYTHON, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def zoho_target(url: str, token: str = TOKEN) -> list[str]:
    """--backend/--option arguments that open the Zoho emulator at ``url``."""
    return [
        "--backend",
        "zoho",
        "--option",
        f"api_domain={url}",
        "--option",
        f"access_token={token}",
    ]


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line the command wrote to standard error (and nothing else there)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("unigroups: error: "), lines[0]
    return lines[0]


@contextmanager
def emulator(vendor: str, *options: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``unigroups emulate VENDOR`` in its own process: (its URL, the process)."""
    proc = subprocess.Popen(
        [*PYTHON, "emulate", vendor, "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else url
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
