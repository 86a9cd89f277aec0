"""New virtual environments for the tests that install a package offline (a plugin, the
sdist): they see this environment's packages through a .pth line, and pip from here."""

from __future__ import annotations

import subprocess
import sysconfig
import venv
from pathlib import Path

PARENT_SITE = sysconfig.get_paths()["purelib"]


def child_venv(root: Path, pth_line: str) -> tuple[Path, Path]:
    """A venv at ``root`` (no pip of its own) whose site directory holds ``pth_line``, which
    names this environment's site directory as ``PARENT_SITE``; its python and that site
    directory."""
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "parent_env.pth").write_text(pth_line + "\n")
    return python, Path(purelib)
