"""Files read strictly into typed data: TOML or JSON, one converter for all of them.

``strict_converter`` refuses unknown keys and coerces nothing, so a typo such as
``member = [...]`` is an error naming the key and the one meant, never a value silently
dropped. Every problem is a ConfigurationError naming the file, before anything is sent.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import cattrs

from .errors import ConfigurationError
from .options import strict_converter, structure_error

__all__ = ["read_data", "structure_data"]

T = TypeVar("T")

_converter = strict_converter()

_YAML = (".yaml", ".yml")


def read_data(path: str, formats: tuple[str, ...]) -> Any:
    """The file's data: TOML when its name ends in ``.toml`` (and "toml" is a format read
    here), else JSON. A folder, an unreadable file, YAML or a parse error is one line."""
    file = Path(path)
    named = " or ".join(f.upper() for f in formats)
    if file.suffix.lower() in _YAML:
        raise ConfigurationError(
            f"{path} is YAML; this file is read as {named} (YAML is not read)", option="file"
        )
    as_toml = "toml" in formats and (file.suffix.lower() == ".toml" or formats == ("toml",))
    try:
        content = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{path} does not exist", option="file") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{path} is a folder, not a file", option="file") from None
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read {path}: {exc.strerror or type(exc).__name__}", option="file"
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{path} is not UTF-8 text", option="file") from None
    try:
        return tomllib.loads(content) if as_toml else json.loads(content)
    except ValueError as exc:
        kind = "TOML" if as_toml else "JSON"
        other = " (a .toml name is read as TOML)" if not as_toml and "toml" in formats else ""
        problem = " ".join(str(exc).split())
        raise ConfigurationError(
            f"{path} is not valid {kind}{other}: {problem}", option="file"
        ) from None


def structure_data(data: Any, cls: type[T], path: str) -> T:
    """``data`` (read from ``path``) as a ``cls``; ConfigurationError naming the file."""
    try:
        return _converter.structure(data, cls)
    except ConfigurationError as exc:  # a class's own check, at the top level
        raise ConfigurationError(f"{path}: {exc}", option=exc.option) from None
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        error = structure_error(exc)
        raise ConfigurationError(f"{path}: {error}", option=error.option) from None
