"""The org behind a Zoho emulator: its users (``GET /crm/{version}/users``), roles and
territories, seeded with the ids the vendor's own samples reference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

__all__ = [
    "SEED_ROLES",
    "SEED_TERRITORIES",
    "USERS_OF_TYPE",
    "USER_TYPE_OF_STATUS",
    "ZohoUser",
    "seed_users",
]

Json = dict[str, Any]


# A user's ``status`` and the ``user_type`` a group's ``sources`` filter calls it by.
USER_TYPE_OF_STATUS = {"active": "active", "disabled": "inactive", "deleted": "deleted"}


@attrs.define
class ZohoUser:
    """A user of the org, as ``GET /crm/{version}/users`` shows it."""

    id: str
    first_name: str | None
    last_name: str
    email: str
    status: str = "active"  # active, disabled or deleted
    confirm: bool = True
    role: Json = attrs.Factory(lambda: {"name": "CEO", "id": "3652397000000026005"})
    profile: Json = attrs.Factory(lambda: {"name": "Administrator", "id": "3652397000000026011"})
    admin: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.first_name else self.last_name

    @property
    def user_type(self) -> str:
        return USER_TYPE_OF_STATUS.get(self.status, "active")

    def minified(self) -> Json:
        return {"name": self.full_name, "id": self.id}

    def to_json(self) -> Json:
        return {
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "full_name": self.full_name,
            "email": self.email,
            "status": self.status,
            "confirm": self.confirm,
            "role": dict(self.role),
            "profile": dict(self.profile),
            "zuid": str(int(self.id) % 10**9),
        }


def seed_users() -> list[ZohoUser]:
    """The users the seeds' groups reference (Patricia Boyle and Deborah Gill), and a few
    more, one of them deactivated."""
    manager = {"name": "Manager", "id": "3652397000000026008"}
    return [
        ZohoUser(
            "3652397000000186017", "Patricia", "Boyle", "patricia.boyle@example.com", admin=True
        ),
        ZohoUser(
            "3652397000000281001",
            "Deborah",
            "Gill",
            "deborah.gill@example.com",
            role=manager,
            profile={"name": "Standard", "id": "3652397000000026014"},
        ),
        ZohoUser(
            "3652397000000281017",
            "Kevin",
            "Ward",
            "kevin.ward@example.com",
            role=manager,
            profile={"name": "Standard", "id": "3652397000000026014"},
        ),
        ZohoUser(
            "3652397000000281033",
            "Ruth",
            "Ellis",
            "ruth.ellis@example.com",
            status="disabled",
            role=manager,
            profile={"name": "Standard", "id": "3652397000000026014"},
        ),
    ]


# Names of the seeds' role and territory, so members added by id get their ``source.name``.
SEED_ROLES = {
    "3652397000000026005": "CEO",
    "3652397000000026008": "Manager",
}
SEED_TERRITORIES = {"3652397000007622003": "New York"}

# GET /users ``type`` values (v8 spec and prose docs) as tests on a user.
USERS_OF_TYPE: dict[str, Callable[[ZohoUser], bool]] = {
    "AllUsers": lambda user: True,
    "ActiveUsers": lambda user: user.status == "active",
    "DeactiveUsers": lambda user: user.status == "disabled",
    "DeletedUsers": lambda user: user.status == "deleted",
    "ConfirmedUsers": lambda user: user.confirm,
    "NotConfirmedUsers": lambda user: not user.confirm,
    "ActiveConfirmedUsers": lambda user: user.status == "active" and user.confirm,
    "AdminUsers": lambda user: user.admin,
    "ActiveConfirmedAdmins": lambda user: user.admin and user.status == "active" and user.confirm,
}
