"""The operations a batch runs (Create, Update, Delete) and the outcome each ends in."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

import attrs

from .errors import ValidationError
from .models import Group, GroupChanges

__all__ = ["Create", "Delete", "Operation", "Outcome", "Status", "check_operation"]


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _instance(kind: type, field: str) -> Callable[[Any, Any, Any], None]:
    """A validator raising ValidationError (a user's mistake, not a TypeError)."""

    def check(_inst: Any, _attribute: Any, value: Any) -> None:
        if not isinstance(value, kind):
            raise ValidationError(
                f"must be a {kind.__name__}, not {type(value).__name__}", field=field
            )

    return check


@attrs.frozen
class Create:
    """Create ``group``. Its key, by default, is its name: names are unique per vendor."""

    group: Group = attrs.field(validator=_instance(Group, "group"))
    key: str = attrs.field(
        # The group is checked after this default is worked out: read its name with care.
        default=attrs.Factory(
            lambda self: f"create:{getattr(self.group, 'name', '')}", takes_self=True
        ),
        validator=_instance(str, "key"),
    )


@attrs.frozen
class Update:
    """Apply ``changes`` to the group ``group_id``."""

    group_id: str = attrs.field(validator=_instance(str, "group_id"))
    changes: GroupChanges = attrs.field(validator=_instance(GroupChanges, "changes"))
    key: str = attrs.field(
        default=attrs.Factory(
            lambda self: f"update:{self.group_id}:{_digest(attrs.asdict(self.changes))}",
            takes_self=True,
        ),
        validator=_instance(str, "key"),
    )


@attrs.frozen
class Delete:
    """Delete the group ``group_id`` (deactivate it where the backend's delete is soft)."""

    group_id: str = attrs.field(validator=_instance(str, "group_id"))
    key: str = attrs.field(
        default=attrs.Factory(lambda self: f"delete:{self.group_id}", takes_self=True),
        validator=_instance(str, "key"),
    )


Operation: TypeAlias = Create | Update | Delete
Status = Literal["done", "failed", "skipped"]


@attrs.frozen
class Outcome:
    """How one operation ended. ``group`` for a done create or update; ``error`` if failed.

    ``attempts`` counts the backend calls the batch made for it (a create looked up and
    made again after an unknown fate counts two); a failed call's error tells its sends in
    ``error.attempts``. ``in_doubt``: failed without knowing whether the vendor acted (the
    journal keeps it so, and the next run looks before sending it again).
    """

    operation: Operation
    status: Status
    group: Group | None = None
    group_id: str | None = None
    error: Exception | None = None
    attempts: int = 0
    in_doubt: bool = False

    @property
    def key(self) -> str:
        return self.operation.key

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def check_operation(item: object, number: int) -> Operation:
    """``item`` if it is an operation, else ValidationError naming its position."""
    if not isinstance(item, (Create, Update, Delete)):
        raise ValidationError(
            f"operation {number} is a {type(item).__name__}, not a Create, Update or Delete",
            field="operations",
        )
    return item
