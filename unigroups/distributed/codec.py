"""Operations as JSON, for a job's operations kept in Redis between the producer and workers.

One converter, declared once: a ``Create`` keeps what a create sends (name, description,
members, active, rank), never a group's ``raw`` vendor data; ``GroupChanges.description``
left at ``UNSET`` is left out (``null`` means "clear it").
"""

from __future__ import annotations

import json
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ..errors import ValidationError
from ..models import Group, GroupChanges, Member, MemberKind, Unset
from ..operations import Create, Delete, Operation, Update
from ..options import strict_converter, structure_error

__all__ = ["dumps_operation", "loads_operation"]

_KINDS: dict[str, type[Operation]] = {"create": Create, "update": Update, "delete": Delete}
_NAMES = {cls: name for name, cls in _KINDS.items()}
_LEFT_OUT = ("id", "created_at", "modified_at", "backend", "raw")


def _converter() -> cattrs.Converter:
    # Strict: a value of the wrong type is refused, never coerced ("false" is not True).
    c = strict_converter()
    c.register_structure_hook(MemberKind, lambda value, _type: MemberKind(value))
    # A description sent is a string or null (clear it); UNSET is never written.
    c.register_structure_hook(str | Unset | None, _description)
    # Members first: a class's hook takes its fields' hooks when it is made.
    for part in (Member, GroupChanges):
        c.register_unstructure_hook(
            part, make_dict_unstructure_fn(part, c, _cattrs_omit_if_default=True)
        )
    group_fields: dict[str, Any] = {name: override(omit=True) for name in _LEFT_OUT}
    c.register_unstructure_hook(
        Group,
        make_dict_unstructure_fn(Group, c, _cattrs_omit_if_default=True, **group_fields),
    )
    c.register_structure_hook(
        Group, make_dict_structure_fn(Group, c, _cattrs_forbid_extra_keys=True, **group_fields)
    )
    # The key is always written: its default is worked out from other fields.
    for cls in (Create, Update, Delete):
        c.register_unstructure_hook(
            cls,
            make_dict_unstructure_fn(
                cls, c, _cattrs_omit_if_default=True, key=override(omit_if_default=False)
            ),
        )
    return c


def _description(value: object, _type: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValidationError(
        f"must be a string or null, not {type(value).__name__}", field="description"
    )


_converter_instance = _converter()


def dumps_operation(op: Operation) -> str:
    """``op`` as one JSON object, tagged with its kind (``"op": "create"``)."""
    data: dict[str, Any] = {"op": _NAMES[type(op)], **_converter_instance.unstructure(op)}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def loads_operation(text: str | bytes) -> Operation:
    """The operation ``dumps_operation`` wrote; ValidationError for anything else."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"not a JSON operation: {exc}", field="operation") from None
    if not isinstance(data, dict) or data.get("op") not in _KINDS:
        raise ValidationError(
            "not an operation: no \"op\" of 'create', 'update' or 'delete'", field="operation"
        )
    cls = _KINDS[data.pop("op")]
    try:
        return _converter_instance.structure(data, cls)
    except ValidationError:
        raise
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        error = structure_error(exc, unread={Group: _LEFT_OUT})
        raise ValidationError(f"not a valid {cls.__name__}: {error}", field="operation") from None
