"""Named targets: a backend's name and its options, kept in ``unigroups.toml`` with secrets as
``${ENV_VAR}`` read from the environment when the target is used (by the command and by
distributed workers alike)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .errors import ConfigurationError
from .files import read_data, structure_data

__all__ = ["ConfigFile", "check_target_name", "expand", "read_config", "resolve_target"]


@attrs.frozen
class ConfigFile:
    """``unigroups.toml``: ``[targets.NAME]`` tables, each a backend name and its options
    (checked against the backend's options when the target is opened)."""

    targets: dict[str, dict[str, Any]] = attrs.Factory(dict)


def read_config(path: str | None) -> ConfigFile:
    """``--config FILE``, or ``./unigroups.toml`` when there is one (else no targets)."""
    if not path:
        if not Path("unigroups.toml").exists():
            return ConfigFile()
        path = "unigroups.toml"
    return structure_data(read_data(path, ("toml",)), ConfigFile, path)


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(value: Any, where: str) -> Any:
    """``${VAR}`` replaced from the environment, in strings and nested tables."""
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigurationError(
                    f"{where} needs the environment variable {name}, which is not set",
                    option=where,
                )
            return os.environ[name]

        return _VARIABLE.sub(lookup, value)
    if isinstance(value, dict):
        return {k: expand(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, where) for v in value]
    return value


def check_target_name(targets: Mapping[str, Mapping[str, Any]], name: object) -> str:
    """``name`` if ``targets`` has it; else ConfigurationError naming the known targets."""
    if not isinstance(name, str) or name not in targets:
        known = ", ".join(sorted(targets)) or "none configured"
        raise ConfigurationError(f"no target named {name!r} (targets: {known})", option="target")
    return name


def resolve_target(
    targets: Mapping[str, Mapping[str, Any]], name: str
) -> tuple[str, dict[str, Any]]:
    """(backend name, options with ``${VAR}`` expanded) of target ``name``; ConfigurationError
    naming the known targets when there is none, or when it names no backend."""
    table = dict(targets[check_target_name(targets, name)])
    backend = table.pop("backend", None)
    if not isinstance(backend, str):
        raise ConfigurationError(f'target {name!r} has no backend = "..."', option="backend")
    return backend, expand(table, f"targets.{name}")
