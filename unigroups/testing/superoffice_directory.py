"""The users behind a SuperOffice emulator: associates with a person (name, e-mail), a
primary user group and other groups, shown as the User entity (``GET /User/{id}``) and as
rows of the AllUsers archive (``GET /User``), and written back from a User document.

Choices where SuperOffice publishes nothing (*unconfirmed*): the archive's ``otherGroups``
column holds the ids of the user's other groups (``eq`` and ``in`` test any of them), and
``isActive`` is the opposite of ``User.Deleted``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from unigroups.testing.jsondoc import BodyError, bind

__all__ = [
    "ARCHIVE_COLUMNS",
    "USER_PROPERTIES",
    "Associate",
    "SeedUser",
    "generated_users",
    "read_users_file",
]

Json = dict[str, Any]
Carrier = Callable[[int], Json]  # a user group's carrier by id; KeyError if there is none

# The AllUsers archive's columns the emulator serves (the backend asks for a subset).
ARCHIVE_COLUMNS: Final = (
    "associateDbId",
    "personId",
    "assocName",
    "fullName",
    "userName",
    "personEmail",
    "usergroupId",
    "otherGroups",
    "isActive",
)
# Every property of the documented User entity (UserWithLinks): a body may carry any of them.
# Those outside ``_WRITABLE`` are bound and not stored, as the server does with read-only ones.
USER_PROPERTIES: Final = (
    "AssociateId",
    "Name",
    "Rank",
    "Tooltip",
    "LicenseOwners",
    "Role",
    "UserGroup",
    "OtherGroups",
    "Person",
    "Deleted",
    "Lastlogin",
    "Lastlogout",
    "EjUserId",
    "RequestSignature",
    "Type",
    "IsPersonRetired",
    "IsOnTravel",
    "Credentials",
    "UserName",
    "TicketCategories",
    "NickName",
    "WaitingForApproval",
    "ExtraFields",
    "CustomFields",
    "PostSaveCommands",
    "TableRight",
    "FieldProperties",
    "_Links",
)
PERSON_PROPERTIES: Final = ("PersonId", "FullName", "Email")
CARRIER_PROPERTIES: Final = (
    "Value",
    "Tooltip",
    "Id",
    "Rank",
    "Deleted",
    "TableRight",
    "FieldProperties",
)


@attrs.frozen
class SeedUser:
    """A user to seed: groups named (created when missing), ``primary_group`` None for the
    emulator's default group."""

    full_name: str
    email: str | None = None
    login: str | None = None  # User.Name; default: made from the full name
    active: bool = True
    primary_group: str | None = None
    other_groups: tuple[str, ...] = attrs.field(default=(), converter=tuple)


@attrs.define
class Associate:
    """A user: ``name`` is the unique login name or initials (``User.Name``)."""

    id: int
    name: str
    full_name: str
    email: str | None
    primary_group: int
    other_groups: list[int] = attrs.Factory(list)
    user_name: str | None = None
    active: bool = True
    rank: int = 0
    tooltip: str = ""

    @property
    def person_id(self) -> int:
        return self.id + 5000

    def groups(self) -> set[int]:
        return {self.primary_group, *self.other_groups}

    def entity(self, carrier: Carrier) -> Json:
        """``GET /User/{id}``'s answer (the fields the emulator keeps; rights as in samples)."""
        return {
            "AssociateId": self.id,
            "Name": self.name,
            "Rank": self.rank,
            "Tooltip": self.tooltip,
            "Role": None,
            "UserGroup": carrier(self.primary_group),
            "OtherGroups": [carrier(group) for group in self.other_groups],
            "Person": {"PersonId": self.person_id, "FullName": self.full_name, "Email": self.email},
            "Deleted": not self.active,
            "Type": "InternalAssociate",
            "IsPersonRetired": False,
            "UserName": self.user_name,
            "TableRight": None,
            "FieldProperties": {},
        }

    def row(self) -> Json:
        """A row of the AllUsers archive, every column the emulator serves."""
        return {
            "associateDbId": self.id,
            "personId": self.person_id,
            "assocName": self.name,
            "fullName": self.full_name,
            "userName": self.user_name,
            "personEmail": self.email,
            "usergroupId": self.primary_group,
            "otherGroups": list(self.other_groups),
            "isActive": self.active,
        }

    def written(self, document: Any, groups: Mapping[int, Any]) -> Associate:
        """This user as a whole User ``document`` (a PUT body, or a patched entity) says;
        BodyError if it is not one (an unknown property, no primary group, no such group)."""
        fields = bind(document, USER_PROPERTIES, "The User")
        if fields.get("AssociateId", self.id) != self.id:
            raise BodyError("AssociateId cannot be changed.")
        primary = fields.get("UserGroup")
        if primary is None:
            raise BodyError(
                "A user always has a primary user group (UserGroup); it cannot be "
                "emptied, only replaced."
            )
        person = bind(fields.get("Person") or {}, PERSON_PROPERTIES, "The Person")
        others = fields.get("OtherGroups") or []
        if not isinstance(others, list):
            raise BodyError("OtherGroups must be an array of user groups.")
        name = fields.get("Name")
        if not isinstance(name, str) or not name.strip():
            raise BodyError("Name (the user's login name or initials) is required.")
        deleted = fields.get("Deleted", False)
        if not isinstance(deleted, bool):
            raise BodyError("Deleted must be true or false.")
        return attrs.evolve(
            self,
            name=name,
            full_name=_text(person.get("FullName", self.full_name), "Person.FullName"),
            email=_optional_text(person.get("Email"), "Person.Email"),
            primary_group=_group_id(primary, groups),
            other_groups=[_group_id(group, groups) for group in others],
            user_name=_optional_text(fields.get("UserName"), "UserName"),
            active=not deleted,
            rank=_int(fields.get("Rank", 0), "Rank"),
            tooltip=_text(fields.get("Tooltip") or "", "Tooltip"),
        )


def _group_id(carrier: Any, groups: Mapping[int, Any]) -> int:
    group_id = bind(carrier, CARRIER_PROPERTIES, "A user group").get("Id")
    if isinstance(group_id, bool) or not isinstance(group_id, int) or group_id not in groups:
        raise BodyError(f"There is no user group with Id {group_id!r}.")
    return group_id


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise BodyError(f"{field} must be a string.")
    return value


def _optional_text(value: Any, field: str) -> str | None:
    return None if value is None else _text(value, field)


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BodyError(f"{field} must be an integer.")
    return value


def generated_users(count: int, *, domain: str = "example.com") -> list[SeedUser]:
    """``count`` users named "User N" with e-mail ``userN@domain``."""
    return [SeedUser(f"User {n}", f"user{n}@{domain}", f"U{n}") for n in range(1, count + 1)]


def read_users_file(path: str | Path) -> list[SeedUser]:
    """Users from a JSON file: an array of objects with ``full_name`` and optionally
    ``email``, ``login``, ``active``, ``primary_group`` and ``other_groups`` (group names)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise TypeError("not a JSON array")
        return [SeedUser(**item) for item in data]
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"cannot read users from {path}: {exc}") from None
