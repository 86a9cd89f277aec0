"""Where the command's backends come from: ``unigroups.toml`` targets or --backend/--option.

A config file names targets; each has ``backend = "zoho"`` and that backend's options. Secrets
are written as ``${ENV_VAR}`` and read from the environment when the target is opened, so the
file itself can be committed.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ..errors import ConfigurationError
from .files import ConfigFile

__all__ = ["expand", "parse_option", "target_options"]

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


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` from the command line; the value is JSON when it parses, else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigurationError(f"--option takes key=value, not {text!r}", option="option")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), expand(value, key.strip())


def target_options(
    config: ConfigFile, name: str | None, backend: str | None, options: list[str]
) -> tuple[str, dict[str, Any]]:
    """(backend name, options) for a target named in the config, or for --backend/--option."""
    extra = dict(parse_option(o) for o in options)
    if backend is not None:
        return backend, extra
    targets = config.targets
    if name is None:
        raise ConfigurationError("name a target, or give --backend", option="target")
    if name not in targets:
        known = ", ".join(sorted(targets)) or "none in the config file"
        raise ConfigurationError(f"no target named {name!r} (targets: {known})", option="target")
    table = dict(targets[name])
    backend_name = table.pop("backend", None)
    if not isinstance(backend_name, str):
        raise ConfigurationError(f'target {name!r} has no backend = "..."', option="backend")
    return backend_name, {**expand(table, f"targets.{name}"), **extra}
