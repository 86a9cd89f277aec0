"""The documentation runs: every ```python block of README.md and docs/**/*.md is executed,
and the mkdocs site builds with --strict.

Each block runs as a script of its own, in a subprocess with a timeout and a fresh temporary
directory as its working directory, so a block that serves an emulator on 127.0.0.1 or writes
files cleans up after itself. None is skipped: a block that shows a real vendor's set-up only
constructs objects (opening a backend sends nothing) or defines functions it does not call.
```console, ```sh, ```toml and other blocks are shown, not run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TIMEOUT = 120  # seconds per block; the slowest (batch jobs on an emulator) take about 2

# An opening fence: up to 3 spaces (more inside list items), 3+ backticks or tildes, info.
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)")
PYTHON_INFO = {"python", "py", "python3"}


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def fenced_blocks(path: Path) -> list[tuple[int, str, str]]:
    """(line of the opening fence, info string, code) for each fenced block of ``path``."""
    blocks: list[tuple[int, str, str]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    n = 0
    while n < len(lines):
        opening = _FENCE.match(lines[n])
        if opening is None:
            n += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        start = n + 1
        n += 1
        while n < len(lines) and not closing.match(lines[n]):
            line = lines[n]
            body.append(line[indent:] if line[:indent].strip() == "" else line)
            n += 1
        if n == len(lines):
            raise AssertionError(f"{path.relative_to(ROOT)}:{start}: fence never closed")
        blocks.append((start, opening["info"].lower(), textwrap.dedent("\n".join(body)) + "\n"))
        n += 1
    return blocks


def python_examples() -> list[tuple[str, str]]:
    """("file:line", code) for every Python block of the README and the docs."""
    return [
        (f"{path.relative_to(ROOT).as_posix()}:{line}", code)
        for path in doc_files()
        for line, info, code in fenced_blocks(path)
        if info in PYTHON_INFO
    ]


EXAMPLES = python_examples()


@pytest.mark.slow  # a subprocess each
@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_python_example_runs(where: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(f"# {where}\n{code}", encoding="utf-8")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUTF8": "1"}
    env.pop("PYTHONPATH", None)  # the example sees unigroups as installed, like a user would
    try:
        result = subprocess.run(
            [sys.executable, script.name],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        output = [s.decode() if isinstance(s, bytes) else s or "" for s in (exc.stdout, exc.stderr)]
        pytest.fail(f"{where}: still running after {TIMEOUT}s\n" + "\n".join(output))
    assert result.returncode == 0, (
        f"{where} exited {result.returncode}\n--- stdout\n{result.stdout}\n"
        f"--- stderr\n{result.stderr}"
    )


def test_examples_are_found() -> None:
    """The collector sees the blocks: an unclosed or mistyped fence would hide them."""
    where = {place.split(":")[0] for place, _ in EXAMPLES}
    assert "README.md" in where
    assert {"docs/getting-started.md", "docs/mirror.md", "docs/batch.md"} <= where
    assert len(EXAMPLES) >= 20


def test_readme_gives_the_two_newcomer_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'pip install ".[cli]" && unigroups demo' in readme
    assert 'pip install -e ".[dev]" && python -m pytest -q' in readme


def _nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def test_nav_lists_every_page() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with mkdocs (the docs extra)")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    listed = _nav_pages(config["nav"])
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(listed) == pages


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mkdocs site, built once with --strict."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip('mkdocs is not installed (it is in the docs extra: pip install -e ".[docs]")')
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(site_dir),
        ],
        cwd=ROOT,
        # Material's banner about its end of life is not a problem of these docs.
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return site_dir


@pytest.mark.slow  # builds the site
def test_mkdocs_build_is_strict_clean(site: Path) -> None:
    assert (site / "index.html").exists()
    assert (site / "reference" / "sync" / "index.html").exists()


# What a page loads (not what it links to): a script, a stylesheet, a font, an image.
_LOADED = re.compile(
    r"<(?:script|link|img|iframe|source|audio|video)\b[^>]*?\b(?:src|href)=[\"']"
    r"((?:https?:)?//[^\"']+)"
    r"|url\(\s*[\"']?((?:https?:)?//[^)\"']+)"
    r"|@import\s+[\"']((?:https?:)?//[^\"']+)"
)


@pytest.mark.slow  # builds the site
def test_the_site_loads_nothing_from_another_host(site: Path) -> None:
    """No CDN, no web fonts: code is highlighted at build time and the site works offline."""
    loaded = {
        f"{path.relative_to(site)}: {next(g for g in match.groups() if g)}"
        for path in site.rglob("*")
        if path.suffix in {".html", ".css", ".js"}
        for match in _LOADED.finditer(path.read_text(encoding="utf-8", errors="replace"))
    }
    assert not loaded
    page = (site / "which-api" / "index.html").read_text(encoding="utf-8")
    assert 'class="highlight"' in page  # Pygments ran: highlighting needs no script


def _public_names() -> list[tuple[str, str, str]]:
    """(name, the module that exports it, the module that defines it) for every public
    name; its reference entry is under either."""
    import unigroups
    import unigroups.batch
    import unigroups.http
    import unigroups.mirror
    import unigroups.sync
    import unigroups.sync.mirror

    modules = (
        unigroups,
        unigroups.batch,
        unigroups.mirror,
        unigroups.http,
        unigroups.sync,
        unigroups.sync.mirror,
    )
    return [
        (name, module.__name__, getattr(getattr(module, name), "__module__", module.__name__))
        for module in modules
        for name in module.__all__
        if name not in {"__version__", "UNSET"}  # a string and a constant: told in the text
    ]


@pytest.mark.slow  # builds the site
def test_the_api_reference_documents_every_public_name(site: Path) -> None:
    """The reference is generated from the code: every public name has its entry."""
    anchors = {
        match
        for page in (site / "reference").rglob("index.html")
        for match in re.findall(r'id="(unigroups\.[\w.]+)"', page.read_text(encoding="utf-8"))
    }
    missing = [
        f"{exported}.{name}"
        for name, exported, defined in _public_names()
        if not {f"{exported}.{name}", f"{defined}.{name}"} & anchors
    ]
    assert not missing
    reference = [p.read_text(encoding="utf-8") for p in (DOCS / "reference").glob("*.md")]
    for text in reference:  # written by mkdocstrings, not by hand
        assert re.search(r"^::: unigroups", text, re.MULTILINE), text[:80]


def test_readme_links_work_on_a_package_index() -> None:
    """A package index shows README.md alone: every link is absolute, and the ones into this
    repository name files that exist."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    with (ROOT / "pyproject.toml").open("rb") as file:
        repository = tomllib.load(file)["project"]["urls"]["Repository"]
    targets = re.findall(r"\]\(([^)\s]+)\)", readme) + re.findall(
        r"^\[[^\]]+\]:\s*(\S+)", readme, re.MULTILINE
    )
    assert targets
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#"))]
    assert not relative
    prefixes = (f"{repository}/blob/main/", f"{repository}/tree/main/")
    into_repo = [t for t in targets if t.startswith(prefixes)]
    assert len(into_repo) >= 10
    for target in into_repo:
        path = target.split("/main/", 1)[1].split("#")[0]
        assert (ROOT / path).exists(), target
