"""Backend names to backend classes: runtime registrations, built-ins, then entry points.

Every source yields the same thing, a ``"module:Class"`` target (or a class) that is imported
only when the backend is first opened; discovery reads package metadata and nothing else.
"""

from __future__ import annotations

import difflib
import importlib
import warnings
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol, cast

import attrs
import cattrs

from .errors import (
    BackendImportError,
    ConfigurationError,
    UnknownBackendError,
    ValidationError,
)
from .http import Throttle
from .options import strict_converter, structure_error, unknown_key
from .protocol import GroupBackend

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendClass",
    "backend_class",
    "backend_names",
    "backend_origin",
    "open_backend",
    "register_backend",
    "structure_config",
]

ENTRY_POINT_GROUP = "unigroups.backends"

_BUILTINS: dict[str, str] = {
    "memory": "unigroups.backends.memory:MemoryBackend",
    "zoho": "unigroups.backends.zoho:ZohoBackend",
    "superoffice": "unigroups.backends.superoffice:SuperOfficeBackend",
}


class BackendClass(Protocol):
    """What the registry needs of a backend class: its config class and a constructor."""

    config_class: type[Any]

    def __call__(self, config: Any) -> GroupBackend: ...


_runtime: dict[str, str | type[Any]] = {}


def _target_text(target: str | type[Any]) -> str:
    if isinstance(target, str):
        return target
    return f"{target.__module__}:{target.__qualname__}"


def register_backend(name: str, target: str | type[Any], *, replace: bool = False) -> None:
    """Register ``target`` (a class or ``"module:Class"``) under ``name`` for this process.

    Registering the same target again does nothing; another target under a taken name (a
    runtime registration or a built-in) needs ``replace=True``.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError("a backend name must be a non-empty string", option="name")
    if isinstance(target, str) and ":" not in target:
        raise ConfigurationError(
            f"target {target!r} must be a class or a 'module:Class' string", option="target"
        )
    existing = _runtime.get(name) or _BUILTINS.get(name)
    if existing is not None and _target_text(existing) == _target_text(target):
        return
    if existing is not None and not replace:
        raise ConfigurationError(
            f"backend {name!r} is already registered as {_target_text(existing)}; "
            f"registering {_target_text(target)} too needs replace=True",
            option="name",
        )
    _runtime[name] = target


def unregister_backend(name: str) -> None:
    """Forget a runtime registration (built-ins and entry points stay)."""
    _runtime.pop(name, None)


def _entry_point_targets() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        targets = found.setdefault(ep.name, [])
        if ep.value not in targets:  # one package seen twice on sys.path is no conflict
            targets.append(ep.value)
    return found


def _plugin_targets() -> dict[str, str]:
    """Entry points that may be used: no shadowing of built-ins, no ambiguous names."""
    usable: dict[str, str] = {}
    for name, targets in _entry_point_targets().items():
        if name in _BUILTINS:
            warnings.warn(
                f"entry point {name!r} ({', '.join(targets)}) would shadow the built-in "
                f"backend of that name; it is skipped",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        if len(targets) > 1:
            usable[name] = "\0".join(targets)  # reported as a conflict on use
            continue
        usable[name] = targets[0]
    return usable


def backend_names() -> list[str]:
    """The names that :func:`open_backend` accepts, sorted."""
    return sorted({*_runtime, *_BUILTINS, *_plugin_targets()})


def backend_origin(name: str) -> str:
    """Where a name comes from: "runtime", "built-in" or "plugin" (an entry point)."""
    if name in _runtime:
        return "runtime"
    if name in _BUILTINS:
        return "built-in"
    return "plugin"


def _lookup(name: str) -> str | type[Any]:
    if name in _runtime:
        return _runtime[name]
    if name in _BUILTINS:
        return _BUILTINS[name]
    plugins = _plugin_targets()
    if name in plugins:
        targets = plugins[name].split("\0")
        if len(targets) > 1:
            raise ConfigurationError(
                f"backend {name!r} is declared by two packages with different targets: "
                f"{' and '.join(targets)}; uninstall one of them or register_backend() the "
                f"one you want",
                option="name",
            )
        return targets[0]
    known = sorted({*_runtime, *_BUILTINS, *plugins})
    raise UnknownBackendError(name, known, difflib.get_close_matches(name, known, n=3))


def _import_target(name: str, target: str) -> Any:
    module_name, _, qualname = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise BackendImportError(name, target, exc) from exc
    return obj


def backend_class(name: str) -> BackendClass:
    """The backend class registered under ``name``, imported now if it was not yet."""
    target = _lookup(name)
    cls = _import_target(name, target) if isinstance(target, str) else target
    if not isinstance(cls, type) or not attrs.has(getattr(cls, "config_class", None) or object):
        raise ConfigurationError(
            f"backend {name!r} ({_target_text(target)}) is not a backend class: it needs a "
            f"'config_class' attribute holding an attrs class",
            option="name",
        )
    return cast(BackendClass, cls)


def _passthrough(kind: type[Any]) -> Callable[[Any, type[Any]], Any]:
    def structure(value: Any, _type: type[Any]) -> Any:
        if not isinstance(value, kind):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return structure


def _make_converter() -> cattrs.Converter:
    converter = strict_converter()
    # Options that are live objects (a session, a token provider) are passed through as-is.
    converter.register_structure_hook_func(
        lambda t: (
            isinstance(t, type) and not attrs.has(t) and t.__module__.startswith(("aiohttp", "ssl"))
        ),
        lambda v, t: _passthrough(t)(v, t),
    )
    # "adaptive", "fixed" or a Throttle object: the config class's validator checks which.
    converter.register_structure_hook(str | Throttle, lambda v, _t: v)
    converter.register_structure_hook_func(
        lambda t: getattr(t, "__origin__", None) is getattr(Callable, "__origin__", Callable),
        _structure_callable,
    )
    return converter


def _structure_callable(value: Any, _type: Any) -> Any:
    if not callable(value):
        raise TypeError(f"expected a callable, got {type(value).__name__}")
    return value


_converter = _make_converter()


def structure_config(config_class: type[Any], options: Mapping[str, Any], backend: str) -> Any:
    """Build ``config_class`` from options, or raise ConfigurationError naming the bad one.

    Nothing is coerced: an option of the wrong type is refused, saying what it expects.
    """
    names = [a.name for a in attrs.fields(config_class)]
    for key in options:
        if key not in names:
            message = unknown_key(key, names).replace("known keys are", "options are", 1)
            raise ConfigurationError(
                f"{backend}: {message.replace('unknown key', 'unknown option', 1)}", option=key
            )
    try:
        return _converter.structure(dict(options), config_class)
    except ValidationError as exc:  # a config class's own check, in the models' terms
        raise ConfigurationError(f"{backend}: {exc}", option=exc.field) from None
    except ConfigurationError as exc:
        raise ConfigurationError(f"{backend}: {exc}", option=exc.option) from None
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        error = structure_error(exc)
        raise ConfigurationError(f"{backend}: option {error}", option=error.option) from None


def open_backend(
    name: str, options: Mapping[str, Any] | None = None, /, **kwoptions: Any
) -> GroupBackend:
    """Open the backend registered as ``name`` with its options.

    Options come as keywords, as one mapping (from a config file), or both; a key given both
    ways is an error.
    """
    if options is not None and not isinstance(options, Mapping):
        raise ConfigurationError(
            f"options must be a mapping of option names to values, not {type(options).__name__}"
        )
    merged = dict(options or {})
    for key in merged.keys() & kwoptions.keys():
        raise ConfigurationError(f"option {key!r} is given twice", option=key)
    merged.update(kwoptions)
    cls = backend_class(name)
    config = structure_config(cls.config_class, merged, name)
    return cls(config)
