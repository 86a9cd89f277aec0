"""The command's input files, read strictly: ``unigroups.toml`` and desired-state files.

One converter reads both (``strict_converter``: unknown keys refused, nothing coerced), so a
typo such as ``member = [...]`` is an error naming the key and the one meant, never a group
silently emptied. Every problem is a ConfigurationError (exit 2) before anything is sent.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs

from ..errors import ConfigurationError
from ..options import flag, strict_converter, structure_error, text

__all__ = [
    "ConfigFile",
    "DesiredGroup",
    "DesiredMember",
    "DesiredState",
    "read_config",
    "read_desired",
    "read_json",
]

T = TypeVar("T")

_converter = strict_converter()

_YAML = (".yaml", ".yml")


@attrs.frozen
class ConfigFile:
    """``unigroups.toml``: ``[targets.NAME]`` tables, each a backend name and its options
    (checked against the backend's options when the target is opened)."""

    targets: dict[str, dict[str, Any]] = attrs.Factory(dict)


def _one_of_id_or_email(member: DesiredMember) -> None:
    if (member.id is None) == (member.email is None):
        given = "both" if member.id is not None else "neither"
        raise ConfigurationError(
            f"a member has an id or an email (exactly one), not {given}", option="id"
        )


@attrs.frozen
class DesiredMember:
    """``{kind = "role", id = "7", include_subordinates = true}``, or a user by e-mail:
    ``{kind = "user", email = "ann@example.com"}``."""

    kind: str = attrs.field(validator=text)
    id: str | None = attrs.field(default=None, validator=text)
    email: str | None = attrs.field(default=None, validator=text)
    name: str | None = attrs.field(default=None, validator=text)
    include_subordinates: bool = attrs.field(default=False, validator=flag)

    def __attrs_post_init__(self) -> None:
        _one_of_id_or_email(self)
        if self.email is not None and self.kind != "user":
            raise ConfigurationError(
                f"only a user is named by email, not a {self.kind}", option="email"
            )


@attrs.frozen
class DesiredGroup:
    """One group as the target should hold it; no ``members`` means none."""

    name: str
    description: str | None = None
    members: tuple[DesiredMember, ...] = ()


@attrs.frozen
class DesiredState:
    """A desired-state file: ``groups = [{name, description, members}]``."""

    groups: tuple[DesiredGroup, ...]


def _parse(path: str, formats: tuple[str, ...]) -> Any:
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


def _structure(data: Any, cls: type[T], path: str) -> T:
    try:
        return _converter.structure(data, cls)
    except ConfigurationError as exc:  # a class's own check, at the top level
        raise ConfigurationError(f"{path}: {exc}", option=exc.option) from None
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        error = structure_error(exc)
        raise ConfigurationError(f"{path}: {error}", option=error.option) from None


def read_config(path: str | None) -> ConfigFile:
    """``--config FILE``, or ``./unigroups.toml`` when there is one (else no targets)."""
    if not path:
        if not Path("unigroups.toml").exists():
            return ConfigFile()
        path = "unigroups.toml"
    return _structure(_parse(path, ("toml",)), ConfigFile, path)


def read_desired(path: str) -> DesiredState:
    """A desired-state file: TOML when named ``.toml``, else JSON."""
    return _structure(_parse(path, ("toml", "json")), DesiredState, path)


def read_json(path: str, what: str) -> Any:
    """A JSON file's data (``what`` names it in errors: "the member map")."""
    try:
        return _parse(path, ("json",))
    except ConfigurationError as exc:
        raise ConfigurationError(f"{what}: {exc}", option=exc.option) from None
