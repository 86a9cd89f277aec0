"""Where the command's backends come from: ``unigroups.toml`` targets or --backend/--option.

A config file names targets; each has ``backend = "zoho"`` and that backend's options. Secrets
are written as ``${ENV_VAR}`` and read from the environment when the target is opened, so the
file itself can be committed.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import ConfigurationError
from ..targets import ConfigFile, expand, resolve_target

__all__ = ["expand", "parse_option", "target_options"]


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
    if name is None:
        raise ConfigurationError("name a target, or give --backend", option="target")
    backend_name, configured = resolve_target(config.targets, name)
    return backend_name, {**configured, **extra}
