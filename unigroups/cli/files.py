"""The command's input files: desired-state files and JSON maps, read strictly (see
``unigroups.files``); ``unigroups.toml`` is read by ``unigroups.targets``."""

from __future__ import annotations

from typing import Any

import attrs

from ..errors import ConfigurationError
from ..files import read_data, structure_data
from ..options import flag, text

__all__ = [
    "DesiredGroup",
    "DesiredMember",
    "DesiredState",
    "read_desired",
    "read_json",
]


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


def read_desired(path: str) -> DesiredState:
    """A desired-state file: TOML when named ``.toml``, else JSON."""
    return structure_data(read_data(path, ("toml", "json")), DesiredState, path)


def read_json(path: str, what: str) -> Any:
    """A JSON file's data (``what`` names it in errors: "the member map")."""
    try:
        return read_data(path, ("json",))
    except ConfigurationError as exc:
        raise ConfigurationError(f"{what}: {exc}", option=exc.option) from None
