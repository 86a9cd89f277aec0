"""The package as an index shows it and as a source archive ships it: its licence, its
metadata, one version, and an sdist from which the tests run."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

import unigroups

from .venvs import PARENT_SITE, child_venv

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# The environment of the venv's commands: no PYTHONPATH pointing at a working tree.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
# What a build leaves in a working tree; never part of the sdist.
BUILD_LEFTOVERS = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "site",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
)


def test_the_licence_file_is_the_declared_one() -> None:
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_metadata_names_urls_python_versions_and_status() -> None:
    urls = PROJECT["urls"]
    assert {"Homepage", "Documentation", "Repository", "Issues"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())
    classifiers = PROJECT["classifiers"]
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    minimum = re.fullmatch(r">=3\.(\d+)", PROJECT["requires-python"])
    assert minimum is not None
    versions = sorted(
        int(m[1])
        for c in classifiers
        if (m := re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c))
    )
    assert versions[0] == int(minimum[1])
    assert "Typing :: Typed" in classifiers


def test_the_version_is_written_once() -> None:
    """pyproject.toml holds it; the package reads it from the installed metadata."""
    assert unigroups.__version__ == importlib.metadata.version("unigroups")
    literal = re.compile(rf"[\"']{re.escape(PROJECT['version'])}[\"']")
    written = [p for p in (ROOT / "unigroups").rglob("*.py") if literal.search(p.read_text())]
    assert not written


@pytest.mark.slow
def test_the_sdist_holds_the_project_and_its_tests_pass_from_it(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=BUILD_LEFTOVERS)
    built = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))",
            str(tmp_path / "dist"),
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    archive = tmp_path / "dist" / built.stdout.strip().splitlines()[-1]
    with tarfile.open(archive) as sdist:
        prefix = f"unigroups-{PROJECT['version']}/"
        names = {m.name.removeprefix(prefix) for m in sdist.getmembers() if m.isfile()}
        sdist.extractall(tmp_path / "unpacked", filter="data")
    for needed in [
        "LICENSE",
        "README.md",
        "pyproject.toml",
        "mkdocs.yml",
        "unigroups/py.typed",
        "unigroups/sync/__init__.py",
        "tests/conftest.py",
        "tests/seeds/zoho-create-request.json",
        "docs/index.md",
        "docs/reference/sync.md",
        "examples/plugin/pyproject.toml",
        "examples/plugin/tests/test_example_contract.py",
        "bench/_common.py",
    ]:
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    if (ROOT / ".git").exists():  # every file the repository tracks is shipped
        tracked = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        assert set(tracked) - {".gitignore"} <= names

    # Installed from the sdist into a new venv, the quick suite passes from the unpacked sdist.
    python = _venv_installing(archive, tmp_path / "venv")
    unpacked = tmp_path / "unpacked" / prefix
    tests = subprocess.run(
        [python, "-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider"],
        cwd=unpacked,
        env={**CLEAN_ENV, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert re.search(r"\d+ passed", tests.stdout), tests.stdout[-500:]


def _venv_installing(archive: Path, root: Path) -> Path:
    """A new venv with ``archive`` installed (offline), seeing this environment's other
    packages (pytest, aiohttp, mkdocs, ...) but not its unigroups: the parent's site
    directory is appended to the path without running its .pth files, which is where an
    editable install of unigroups hooks itself in."""
    python, purelib = child_venv(root, f"import sys; sys.path.append({PARENT_SITE!r})")
    install = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    subprocess.run(
        [*install, "--no-build-isolation", str(archive)],
        check=True,
        capture_output=True,
        timeout=300,
        env=CLEAN_ENV,
    )
    shown = subprocess.run(
        [python, "-c", "import unigroups; print(unigroups.__file__, unigroups.__version__)"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
    ).stdout
    assert shown.startswith(str(purelib)), shown  # the sdist's, not this environment's
    return python
