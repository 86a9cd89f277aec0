import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from typing import Any

import pytest

import unigroups.registry as registry
from unigroups import (
    BackendImportError,
    ConfigurationError,
    UnknownBackendError,
    backend_names,
    open_backend,
    register_backend,
)
from unigroups.backends.memory import MemoryBackend


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "_runtime", {})
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    yield


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, *pairs: tuple[str, str]) -> None:
    eps = [EntryPoint(name, value, registry.ENTRY_POINT_GROUP) for name, value in pairs]

    def entry_points(group: str) -> list[EntryPoint]:
        assert group == "unigroups.backends"
        return eps

    monkeypatch.setattr(registry, "entry_points", entry_points)


def test_builtins_are_listed() -> None:
    assert "memory" in backend_names()


def test_unknown_name_lists_known_names_and_close_matches() -> None:
    with pytest.raises(UnknownBackendError) as info:
        open_backend("memroy")
    assert info.value.close_matches == ("memory",)
    assert "memory" in info.value.known
    assert "Did you mean 'memory'" in str(info.value)


def test_entry_points_are_discovered_without_importing(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, ("ghost", "ghost_pkg_not_installed.backend:GhostBackend"))
    assert "ghost" in backend_names()
    assert "ghost_pkg_not_installed" not in sys.modules
    with pytest.raises(BackendImportError) as info:
        open_backend("ghost")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert "pip install ghost_pkg_not_installed" in str(info.value)


def test_entry_point_cannot_shadow_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, ("memory", "evil.mod:Backend"))
    with pytest.warns(RuntimeWarning, match="shadow the built-in"):
        assert backend_names().count("memory") == 1
    assert isinstance(open_backend("memory"), MemoryBackend)


def test_two_entry_points_with_different_targets_is_an_error_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_entry_points(monkeypatch, ("twin", "a.mod:One"), ("twin", "b.mod:Two"))
    with pytest.raises(ConfigurationError, match=r"a\.mod:One and b\.mod:Two"):
        open_backend("twin")


def test_the_same_entry_point_seen_twice_is_no_conflict(monkeypatch: pytest.MonkeyPatch) -> None:
    target = "unigroups.backends.memory:MemoryBackend"
    fake_entry_points(monkeypatch, ("mem2", target), ("mem2", target))
    assert isinstance(open_backend("mem2"), MemoryBackend)


def test_runtime_registration_wins_over_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, ("mine", "missing.mod:Backend"))
    register_backend("mine", MemoryBackend)
    assert isinstance(open_backend("mine"), MemoryBackend)


def test_register_same_target_twice_is_a_noop_and_another_needs_replace() -> None:
    register_backend("mine", "unigroups.backends.memory:MemoryBackend")
    register_backend("mine", MemoryBackend)  # the same target, spelled as a class
    with pytest.raises(ConfigurationError, match="replace=True"):
        register_backend("mine", "other.mod:Backend")
    with pytest.raises(ConfigurationError, match="replace=True"):
        register_backend("memory", "other.mod:Backend")
    register_backend("mine", "other.mod:Backend", replace=True)
    with pytest.raises(BackendImportError):
        open_backend("mine")


def test_register_refuses_a_target_that_is_not_module_colon_class() -> None:
    with pytest.raises(ConfigurationError):
        register_backend("x", "just_a_module")


def test_a_target_that_is_not_a_backend_class_is_refused() -> None:
    register_backend("bogus", "os.path:join")
    with pytest.raises(ConfigurationError, match="not a backend class"):
        open_backend("bogus")


def test_options_come_as_keywords_or_one_mapping() -> None:
    assert isinstance(open_backend("memory", {"page_size": 3}), MemoryBackend)
    backend: Any = open_backend("memory", page_size=4)
    assert backend.config.page_size == 4
    with pytest.raises(ConfigurationError, match="given twice"):
        open_backend("memory", {"page_size": 3}, page_size=4)


@pytest.mark.parametrize(
    ("options", "option", "text"),
    [
        ({"page_sise": 3}, "page_sise", "Did you mean 'page_size'"),
        ({"page_size": "many"}, "page_size", "page_size must be a whole number, not 'many'"),
        ({"page_size": 0}, "page_size", "page_size must be a finite number above 0, not 0"),
    ],
)
def test_a_bad_option_is_a_configuration_error_naming_it(
    options: dict[str, Any], option: str, text: str
) -> None:
    with pytest.raises(ConfigurationError, match=text) as info:
        open_backend("memory", options)
    assert info.value.option == option
