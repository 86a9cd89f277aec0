"""The [y/N] prompt under a pseudo-terminal: Ctrl-C exits 130 at once, Ctrl-D is "no"."""

import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

from .command import PYTHON

pytestmark = pytest.mark.slow

TIMEOUT = 60.0


class Terminal:
    """The command run on a pseudo-terminal, as if typed at a shell."""

    def __init__(self, *args: str, cwd: Path) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the terminal is its standard input, output and error
            os.chdir(cwd)
            os.execv(sys.executable, [*PYTHON, *args])
        self.pid, self.fd = pid, fd
        self.seen = b""

    def read_until(self, text: bytes) -> bytes:
        deadline = time.monotonic() + TIMEOUT
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never came; the terminal shows {self.seen!r}"
            chunk = self._read(left)
            assert chunk is None or chunk, f"{text!r} never came; it shows {self.seen!r}"
        return self.seen

    def _read(self, seconds: float) -> bytes | None:
        """What the terminal shows next (b"" once the child closed it; None: nothing yet)."""
        ready, _, _ = select.select([self.fd], [], [], seconds)
        if not ready:
            return None
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # the child closed the terminal
            chunk = b""
        self.seen += chunk
        return chunk

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def exit_code(self) -> int:
        """The child's exit code, read to the end of its output (bounded)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            assert time.monotonic() < deadline, f"still running; shows {self.seen!r}"
            self._read(0.1)

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def desired(tmp_path: Path) -> Path:
    path = tmp_path / "groups.toml"
    path.write_text('[[groups]]\nname = "Sales"\n')
    return path


def at_the_prompt(desired: Path) -> Terminal:
    terminal = Terminal("apply", "--backend", "memory", str(desired), cwd=desired.parent)
    terminal.read_until(b"Apply 1 changes to memory? [y/N] ")
    return terminal


def test_ctrl_c_at_the_prompt_exits_130_at_once(desired: Path) -> None:
    terminal = at_the_prompt(desired)
    try:
        terminal.type(b"\x03")  # Ctrl-C: the terminal sends SIGINT; no Enter follows
        assert terminal.exit_code() == 130
        assert b"unigroups: error: interrupted" in terminal.seen
        assert b"Traceback" not in terminal.seen
    finally:
        terminal.close()


def test_ctrl_d_at_the_prompt_is_no_and_exit_3(desired: Path) -> None:
    terminal = at_the_prompt(desired)
    try:
        terminal.type(b"\x04")  # Ctrl-D at the start of a line: the end of input
        assert terminal.exit_code() == 3
        assert b"Nothing applied." in terminal.seen
        assert b"Traceback" not in terminal.seen
    finally:
        terminal.close()


@pytest.mark.parametrize(
    ("answer", "code", "says"),
    [
        (b"y\r", 0, b"1 operations: 1 done, 0 failed"),
        (b"maybe\r", 3, b"Nothing applied."),  # any answer but y or yes is no
    ],
)
def test_the_answer_at_the_prompt_decides(
    desired: Path, answer: bytes, code: int, says: bytes
) -> None:
    terminal = at_the_prompt(desired)
    try:
        terminal.type(answer)
        assert terminal.exit_code() == code
        assert says in terminal.seen
    finally:
        terminal.close()
