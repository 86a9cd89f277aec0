"""The neutral models: what a group, a member and a change are, whatever the vendor.

Every model is a frozen, slotted attrs class that validates itself on construction, so an
invalid value raises :class:`~unigroups.errors.ValidationError` (naming the field) before any
backend sees it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final, TypeAlias

import attrs

from .errors import UnsupportedOperationError, ValidationError

__all__ = [
    "UNSET",
    "Capabilities",
    "Group",
    "GroupChanges",
    "Member",
    "MemberKind",
    "Unset",
    "User",
]


class MemberKind(enum.StrEnum):
    USER = "user"
    ROLE = "role"
    GROUP = "group"
    TERRITORY = "territory"


class Unset(enum.Enum):
    """The type of :data:`UNSET`: "leave this field as it is" (``None`` means "clear it")."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = Unset.UNSET
MemberKey: TypeAlias = tuple[MemberKind, str]

# Kinds whose members can bring their subordinates along (sub-roles, child territories).
_HIERARCHICAL: Final = frozenset({MemberKind.ROLE, MemberKind.TERRITORY})


def _typed(
    *types: type, optional: bool = False, not_blank: bool = False
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """A validator raising ValidationError (not TypeError) when the value has the wrong type;
    with ``not_blank``, also when a string is empty or only whitespace."""
    names = " or ".join(t.__name__ for t in types) + (" or None" if optional else "")
    # Exactly one of the types (or None) passes in one set lookup: models are built by the
    # hundred per page read, so the usual case must cost next to nothing.
    exact = frozenset((*types, type(None)) if optional else types)

    def check_type(attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        # bool is an int subclass, but never a valid rank or id.
        if isinstance(value, bool) and bool not in types:
            raise ValidationError(f"must be {names}, not bool", field=attribute.name)
        if not isinstance(value, types):
            raise ValidationError(
                f"must be {names}, not {type(value).__name__}", field=attribute.name
            )

    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if type(value) not in exact:
            check_type(attribute, value)

    def check_not_blank(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if type(value) not in exact:
            check_type(attribute, value)
        if isinstance(value, str) and not value.strip():
            raise ValidationError("must not be empty or blank", field=attribute.name)

    return check_not_blank if not_blank else check


# C0 and C1 control characters (NUL, TAB, CR, LF, DEL...) and lone surrogates: no vendor
# stores them faithfully, and in a terminal or a log they forge lines.
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _plain(check: Callable[[Any, attrs.Attribute[Any], Any], None]) -> Any:
    """``check``, then: a string holds no control character and no lone surrogate."""

    def check_plain(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        check(inst, attribute, value)
        found = _CONTROL.search(value) if isinstance(value, str) else None
        if found is not None:
            code = ord(found.group())
            what = "a lone surrogate" if code >= 0xD800 else "the control character"
            raise ValidationError(
                f"holds {what} U+{code:04X} at position {found.start()}; names and "
                "descriptions are plain text (no line breaks, tabs or NUL)",
                field=attribute.name,
            )

    return check_plain


def _to_kind(value: Any) -> MemberKind:
    if type(value) is MemberKind:  # the usual case, without the enum's lookup
        return value
    try:
        return MemberKind(value)
    except ValueError:
        kinds = ", ".join(k.value for k in MemberKind)
        raise ValidationError(f"{value!r} is not a member kind ({kinds})", field="kind") from None


def _to_tuple(value: Any) -> Any:
    # Lists and other iterables become tuples so that models stay hashable; anything that is
    # not an iterable of members is left for the validator to reject.
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return value


@attrs.frozen
class Member:
    """A member of a group: a user, a role, another group or a territory."""

    kind: MemberKind = attrs.field(converter=_to_kind)
    id: str = attrs.field(validator=_typed(str, not_blank=True))
    name: str | None = attrs.field(default=None, eq=False, validator=_typed(str, optional=True))
    include_subordinates: bool = attrs.field(default=False, validator=_typed(bool))
    #: This group is the user's primary group (SuperOffice's ``User.UserGroup``): a primary
    #: member can be moved to another group but not removed. Not part of identity.
    primary: bool = attrs.field(default=False, eq=False, validator=_typed(bool))

    @include_subordinates.validator
    def _check_subordinates(self, attribute: attrs.Attribute[bool], value: bool) -> None:
        if value and self.kind not in _HIERARCHICAL:
            raise ValidationError(
                f"only roles and territories have subordinates, not a {self.kind.value}",
                field=attribute.name,
            )

    @primary.validator
    def _check_primary(self, attribute: attrs.Attribute[bool], value: bool) -> None:
        if value and self.kind is not MemberKind.USER:
            raise ValidationError(
                f"only users have a primary group, not a {self.kind.value}", field=attribute.name
            )

    @property
    def key(self) -> MemberKey:
        """What identifies the member within a group: its kind and id."""
        return (self.kind, self.id)


def _lower_email(value: Any) -> Any:
    # E-mail addresses match people across vendors: kept lower-cased, whatever was read.
    return value.lower() if isinstance(value, str) else value


@attrs.frozen
class User:
    """A person in a vendor's user directory: what a ``user`` member's id points at."""

    id: str = attrs.field(validator=_typed(str, not_blank=True))
    name: str | None = attrs.field(default=None, validator=_typed(str, optional=True))
    email: str | None = attrs.field(
        default=None, converter=_lower_email, validator=_typed(str, optional=True)
    )
    active: bool = attrs.field(default=True, validator=_typed(bool))
    backend: str | None = attrs.field(default=None, validator=_typed(str, optional=True))
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)


def _check_members(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, tuple):
        raise ValidationError(
            f"must be a sequence of Member, not {type(value).__name__}", field=attribute.name
        )
    seen: set[MemberKey] = set()
    for member in value:
        if not isinstance(member, Member):
            raise ValidationError(
                f"must hold Member objects, not {type(member).__name__}", field=attribute.name
            )
        if member.key in seen:
            raise ValidationError(
                f"{member.kind.value} {member.id!r} is listed twice", field=attribute.name
            )
        seen.add(member.key)


def _check_member_changes(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    # Unlike a group's members (None: not loaded), a change always holds a sequence.
    if value is None:
        raise ValidationError("must be a sequence of Member, not None", field=attribute.name)
    _check_members(inst, attribute, value)


def _members_eq_key(members: tuple[Member, ...] | None) -> frozenset[Member] | None:
    # Member order carries no meaning at any vendor, so groups compare members as a set.
    return None if members is None else frozenset(members)


def _check(check: Callable[[Any, attrs.Attribute[Any], Any], None]) -> dict[str, Any]:
    """A field's check, kept next to the field (in its metadata) and run by its class."""
    return {_CHECK: check}


_CHECK: Final = "unigroups.check"
_TEXT: Final = frozenset({str})
_OPTIONAL_TEXT: Final = frozenset({str, type(None)})
_OPTIONAL_TIME: Final = frozenset({datetime, type(None)})
_OPTIONAL_INT: Final = frozenset({int, type(None)})


@attrs.frozen
class Group:
    """A user group as the vendor holds it (or as the caller wants it created)."""

    name: str = attrs.field(metadata=_check(_plain(_typed(str, not_blank=True))))
    description: str | None = attrs.field(
        default=None, metadata=_check(_plain(_typed(str, optional=True)))
    )
    members: tuple[Member, ...] | None = attrs.field(
        default=None, converter=_to_tuple, eq=_members_eq_key, metadata=_check(_check_members)
    )
    id: str | None = attrs.field(
        default=None, metadata=_check(_typed(str, optional=True, not_blank=True))
    )
    active: bool = attrs.field(default=True, metadata=_check(_typed(bool)))
    rank: int | None = attrs.field(default=None, metadata=_check(_typed(int, optional=True)))
    created_at: datetime | None = attrs.field(
        default=None, metadata=_check(_typed(datetime, optional=True))
    )
    modified_at: datetime | None = attrs.field(
        default=None, metadata=_check(_typed(datetime, optional=True))
    )
    backend: str | None = attrs.field(default=None, metadata=_check(_typed(str, optional=True)))
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # Each field's check sits next to it; this runs them. A listing builds 200 groups a
        # page, so the usual case is settled in one pass of exact-type tests (a quarter of
        # the cost of nine validator calls); anything else runs the checks in field order,
        # and the first that fails names its field.
        name, group_id, active, members = self.name, self.id, self.active, self.members
        description = self.description
        if (
            type(name) in _TEXT
            and name
            and not name.isspace()  # not blank, without the copy strip() makes
            # isprintable() is False for every control character and surrogate (and for a
            # few harmless ones, such as a no-break space: those take the long way).
            and name.isprintable()
            and (description is None or (type(description) in _TEXT and description.isprintable()))
            and (members is None or (type(members) is tuple and not members))  # else: long way
            and (
                group_id is None
                or (type(group_id) in _TEXT and group_id and not group_id.isspace())
            )
            and (active is True or active is False)
            and type(self.rank) in _OPTIONAL_INT
            and type(self.created_at) in _OPTIONAL_TIME
            and type(self.modified_at) in _OPTIONAL_TIME
            and type(self.backend) in _OPTIONAL_TEXT
        ):
            return
        for field in attrs.fields(Group):
            check = field.metadata.get(_CHECK)
            if check is not None:
                check(self, field, getattr(self, field.name))


@attrs.frozen
class GroupChanges:
    """What :meth:`GroupBackend.update` applies. Fields left at their default change nothing.

    ``description=None`` clears the description; ``UNSET`` leaves it. Adding a member that is
    already there, or removing one that is not, changes nothing (adding one again with another
    ``include_subordinates`` updates that flag).
    """

    name: str | None = attrs.field(
        default=None, validator=_plain(_typed(str, optional=True, not_blank=True))
    )
    description: str | Unset | None = attrs.field(
        default=UNSET, validator=_plain(_typed(str, Unset, optional=True))
    )
    add: tuple[Member, ...] = attrs.field(
        default=(), converter=_to_tuple, validator=_check_member_changes
    )
    remove: tuple[Member, ...] = attrs.field(
        default=(), converter=_to_tuple, validator=_check_member_changes
    )
    active: bool | None = attrs.field(default=None, validator=_typed(bool, optional=True))
    rank: int | None = attrs.field(default=None, validator=_typed(int, optional=True))

    def __attrs_post_init__(self) -> None:
        both = {m.key for m in self.add} & {m.key for m in self.remove}
        if both:
            kind, id_ = sorted(both)[0]
            raise ValidationError(f"{kind.value} {id_!r} is both added and removed", field="remove")

    @property
    def touches_members(self) -> bool:
        return bool(self.add or self.remove)

    def __bool__(self) -> bool:
        """False when applying these changes cannot change anything."""
        return (
            self.name is not None
            or self.description is not UNSET
            or self.touches_members
            or self.active is not None
            or self.rank is not None
        )

    @classmethod
    def between(cls, before: Group, after: Group) -> GroupChanges:
        """The changes that, applied to ``before``, give ``after`` (ids and timestamps aside).

        Members are compared only when both groups have them loaded. A rank of None in
        ``after`` leaves the rank as it is: vendors that rank groups always hold a rank.
        """
        add: tuple[Member, ...] = ()
        remove: tuple[Member, ...] = ()
        if before.members is not None and after.members is not None:
            old = set(before.members)
            new_keys = {m.key for m in after.members}
            add = tuple(m for m in after.members if m not in old)
            remove = tuple(m for m in before.members if m.key not in new_keys)
        return cls(
            name=after.name if after.name != before.name else None,
            description=(after.description if after.description != before.description else UNSET),
            add=add,
            remove=remove,
            active=after.active if after.active != before.active else None,
            rank=after.rank if after.rank != before.rank else None,  # None: unchanged
        )

    def apply_to(self, group: Group) -> Group:
        """The group as it reads after these changes."""
        members = group.members
        if members is not None and self.touches_members:
            members = merge_members(members, add=self.add, remove=self.remove)
        return attrs.evolve(
            group,
            name=group.name if self.name is None else self.name,
            description=group.description if self.description is UNSET else self.description,
            members=members,
            active=group.active if self.active is None else self.active,
            rank=group.rank if self.rank is None else self.rank,
        )


def merge_members(
    members: Iterable[Member], *, add: Iterable[Member] = (), remove: Iterable[Member] = ()
) -> tuple[Member, ...]:
    """``members`` without ``remove`` and with ``add`` (an added key replaces the old entry)."""
    gone = {m.key for m in remove}
    result = {m.key: m for m in members if m.key not in gone}
    for member in add:
        result[member.key] = member
    return tuple(result.values())


def _kinds(value: Iterable[Any]) -> frozenset[MemberKind]:
    return frozenset(_to_kind(v) for v in value)


@attrs.frozen
class Capabilities:
    """What a backend's vendor supports; the contract suite and jobs read it."""

    member_kinds: frozenset[MemberKind] = attrs.field(converter=_kinds)
    subordinates: bool
    hard_delete: bool
    rank: bool
    name_max_length: int | None
    description_max_length: int | None
    max_batch: int = 1
    # Whether two names that differ only in case are two groups (both vendors: False,
    # unconfirmed, so configurable). Jobs match names with ``name_key``.
    names_case_sensitive: bool = False

    def name_key(self, name: str) -> str:
        """What identifies a group's name at this vendor: the name, or its case-folded form."""
        return name if self.names_case_sensitive else name.casefold()

    @property
    def members(self) -> bool:
        """Whether the vendor keeps members on groups at all."""
        return bool(self.member_kinds)

    def check_group(self, group: Group) -> None:
        """Raise before any request if ``group`` asks for what the vendor cannot hold."""
        self._check_text(group.name, group.description)
        self._check_members(group.members or ())
        if group.rank is not None and not self.rank:
            raise UnsupportedOperationError("this backend keeps no rank", capability="rank")

    def check_changes(self, changes: GroupChanges) -> None:
        """Raise before any request if ``changes`` ask for what the vendor cannot do."""
        description = None if changes.description is UNSET else changes.description
        self._check_text(changes.name, description)
        self._check_members((*changes.add, *changes.remove))
        if changes.rank is not None and not self.rank:
            raise UnsupportedOperationError("this backend keeps no rank", capability="rank")

    def _check_text(self, name: str | None, description: str | None) -> None:
        for field, value, limit in (
            ("name", name, self.name_max_length),
            ("description", description, self.description_max_length),
        ):
            if value is not None and limit is not None and len(value) > limit:
                raise ValidationError(
                    f"is {len(value)} characters long; the vendor allows at most {limit}",
                    field=field,
                )

    def _check_members(self, members: Iterable[Member]) -> None:
        for member in members:
            if not self.member_kinds:
                raise UnsupportedOperationError(
                    "this backend keeps no members on groups", capability="member_kinds"
                )
            if member.kind not in self.member_kinds:
                raise UnsupportedOperationError(
                    f"this backend cannot hold a {member.kind.value} as a member",
                    capability="member_kinds",
                )
            if member.include_subordinates and not self.subordinates:
                raise UnsupportedOperationError(
                    "this backend cannot include subordinates", capability="subordinates"
                )
