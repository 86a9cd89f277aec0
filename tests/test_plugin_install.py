"""A third-party plugin, installed into a fresh virtual environment, is found and passes the
contract suite: the whole extension path, end to end, with a real pip install."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .venvs import PARENT_SITE, child_venv

pytestmark = pytest.mark.slow  # seconds to minutes each: CI runs it, the quick run skips it

PLUGIN = Path(__file__).resolve().parent.parent / "examples" / "plugin"

DISCOVERY = textwrap.dedent(
    """
    import sys
    import unigroups
    assert "example" in unigroups.backend_names(), unigroups.backend_names()
    assert "unigroups_example_plugin" not in sys.modules, "discovery imported the plugin"
    backend = unigroups.open_backend("example", base_url="https://acme.test/api", api_key="k-123")
    assert "unigroups_example_plugin.backend" in sys.modules
    assert isinstance(backend, unigroups.GroupBackend)
    assert backend.throttle is not None, "the plugin's requests go through unigroups' pipeline"
    print(type(backend).__module__, backend.config)
    """
)


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv that sees this environment's packages (unigroups, pytest) but not the plugin,
    then gets the plugin installed into it by pip, offline."""
    root = tmp_path_factory.mktemp("plugin-env")
    # addsitedir (not a bare path) so that this environment's own .pth files, such as an
    # editable install of unigroups, take effect in the new venv too.
    python, _ = child_venv(root / "venv", f"import site; site.addsitedir({PARENT_SITE!r})")
    source = root / "plugin"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return python


def test_the_plugin_is_not_visible_here() -> None:
    import unigroups

    assert "example" not in unigroups.backend_names()


def test_open_backend_finds_the_installed_plugin_without_importing_it_at_discovery(
    plugin_env: Path,
) -> None:
    result = subprocess.run(
        [plugin_env, "-c", DISCOVERY], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("unigroups_example_plugin.backend ExampleConfig(")
    assert "base_url='https://acme.test/api'" in result.stdout
    assert "max_attempts=6" in result.stdout  # the transport options, inherited
    assert "k-123" not in result.stdout  # the API key stays out of the repr


def test_the_installed_plugin_passes_the_contract_suite(plugin_env: Path) -> None:
    result = subprocess.run(
        [plugin_env, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=PLUGIN,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # the example has soft delete and two member kinds: those checks run, others skip
    assert " passed" in result.stdout and " failed" not in result.stdout
    assert sys.executable != str(plugin_env)
