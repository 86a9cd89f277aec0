"""Mirror groups from one backend to another: plan the changes, show them, apply them.

Groups are matched by name, under the target's case rules. Member ids are translated through a
caller-given map, and users the map does not cover are matched by e-mail when both sides are a
user directory; a member the target cannot hold, or one that cannot be matched, is listed as
skipped with its reason, and so are source groups whose names are one name at the target.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeAlias

import attrs

from .backends.base import BackendBase
from .batch import BatchReport, Create, Delete, Operation, ProgressCallback, Update, run_batch
from .errors import PermissionDeniedError, UnigroupsError, ValidationError
from .http import Throttle
from .models import UNSET, Group, GroupChanges, Member, MemberKind, User
from .protocol import GroupBackend, UserDirectory

__all__ = ["Plan", "Skipped", "apply", "plan"]

MemberMap: TypeAlias = Mapping[str, str] | Callable[[Member], str | None]
MatchUsers: TypeAlias = Literal["email"] | None

PRIMARY_KEPT = "this is the user's primary group at the target: it can be moved, not removed"


@attrs.frozen
class Skipped:
    """Something of the source that the plan leaves out, and why."""

    group: str
    reason: str
    member: Member | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"group": self.group, "reason": self.reason}
        if self.member is not None:
            data["member"] = {"kind": self.member.kind.value, "id": self.member.id}
        return data


@attrs.frozen
class Plan:
    """What :func:`apply` would do to the target; prints as a table, serialises to JSON."""

    source: str
    target: str
    operations: tuple[Operation, ...]
    skipped: tuple[Skipped, ...] = ()
    unchanged: tuple[str, ...] = ()
    names: Mapping[str, str] = attrs.field(factory=dict, eq=False)  # op key -> target name

    def __bool__(self) -> bool:
        return bool(self.operations)

    def rows(self) -> list[tuple[str, str, str]]:
        """(action, group, details) for each operation, then each skipped item."""
        rows = [_row(op, self.names.get(op.key)) for op in self.operations]
        for item in self.skipped:
            what = f"{item.member.kind.value} {item.member.id}: " if item.member else ""
            rows.append(("skip", item.group, what + item.reason))
        return rows

    def __str__(self) -> str:
        rows = [("ACTION", "GROUP", "DETAILS"), *self.rows()]
        width = [max(len(r[i]) for r in rows) for i in range(2)]
        lines = [f"{a:<{width[0]}}  {g:<{width[1]}}  {d}".rstrip() for a, g, d in rows]
        lines.append(
            f"{self.source} -> {self.target}: {len(self.operations)} changes, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped"
        )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "operations": [_op_json(op, self.names.get(op.key)) for op in self.operations],
            "skipped": [s.to_json() for s in self.skipped],
            "unchanged": list(self.unchanged),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)


def _members_json(members: Iterable[Member]) -> list[dict[str, Any]]:
    return [
        {"kind": m.kind.value, "id": m.id, "include_subordinates": m.include_subordinates}
        for m in members
    ]


def _op_json(op: Operation, name: str | None) -> dict[str, Any]:
    if isinstance(op, Create):
        group = op.group
        return {
            "action": "create",
            "name": group.name,
            "description": group.description,
            "members": _members_json(group.members or ()),
        }
    if isinstance(op, Update):
        changes = op.changes
        data: dict[str, Any] = {"action": "update", "group_id": op.group_id, "group": name}
        if changes.name is not None:
            data["name"] = changes.name
        if changes.description is not UNSET:
            data["description"] = changes.description
        if changes.add:
            data["add"] = _members_json(changes.add)
        if changes.remove:
            data["remove"] = _members_json(changes.remove)
        if changes.active is not None:
            data["active"] = changes.active
        if changes.rank is not None:
            data["rank"] = changes.rank
        return data
    return {"action": "delete", "group_id": op.group_id, "group": name}


def _row(op: Operation, name: str | None) -> tuple[str, str, str]:
    if isinstance(op, Create):
        count = len(op.group.members or ())
        return ("create", op.group.name, f"{count} members" if count else "")
    if isinstance(op, Update):
        parts = []
        if op.changes.name is not None:
            parts.append(f"rename to {op.changes.name}")
        if op.changes.description is not UNSET:
            parts.append("description")
        if op.changes.add:
            parts.append(f"+{len(op.changes.add)} members")
        if op.changes.remove:
            parts.append(f"-{len(op.changes.remove)} members")
        if op.changes.active:
            parts.append("restore")
        if op.changes.rank is not None:
            parts.append(f"rank {op.changes.rank}")
        return ("update", name or op.group_id, ", ".join(parts))
    return ("delete", name or op.group_id, "")


def _translate(member: Member, member_map: MemberMap) -> str | None:
    if callable(member_map):
        return member_map(member)
    return member_map.get(f"{member.kind.value}:{member.id}", member_map.get(member.id))


@attrs.frozen
class _Users:
    """Source users matched to target users by lower-cased e-mail."""

    emails: Mapping[str, str | None]  # source user id -> its e-mail
    by_email: Mapping[str, list[User]]  # e-mail -> the target's users holding it

    @classmethod
    async def read(cls, source: UserDirectory, target: UserDirectory) -> _Users:
        async def emails() -> dict[str, str | None]:
            return {u.id: u.email async for u in source.users(include_inactive=True)}

        async def by_email() -> dict[str, list[User]]:
            held: dict[str, list[User]] = {}
            async for user in target.users(include_inactive=True):
                if user.email:
                    held.setdefault(user.email, []).append(user)
            return held

        return cls(*await asyncio.gather(emails(), by_email()))

    def target_id(self, member: Member) -> tuple[str | None, str]:
        """The target's id for a source user, or None and why there is none."""
        if member.id not in self.emails:
            return None, "the source has no user with this id"
        email = self.emails[member.id]
        if not email:
            return None, "the source user has no e-mail to match"
        held = self.by_email.get(email, [])
        active = [u for u in held if u.active]
        if not held:
            return None, f"the target has no user with the e-mail {email}"
        if not active:
            return None, f"the target's user with the e-mail {email} is inactive"
        if len(active) > 1:
            return None, f"the target has {len(active)} users with the e-mail {email}"
        return active[0].id, ""


def _target_id(
    member: Member, target: GroupBackend, member_map: MemberMap | None, users: _Users | None
) -> tuple[str | None, str]:
    """The id ``member`` has at the target, or None and why it cannot be carried: the map
    first, then users by e-mail, else the id unchanged if the target could have issued it."""
    is_user = member.kind is MemberKind.USER
    if member_map is not None:
        mapped = _translate(member, member_map)
        if mapped is not None:
            return mapped, ""
        if users is None or not is_user:
            return None, "no mapping for this member"
    if users is not None and is_user:
        return users.target_id(member)
    if isinstance(target, BackendBase):
        try:
            target.check_id(member.id, field="members")
        except ValidationError as exc:
            return None, f"the target cannot hold this id: {exc}"
    return member.id, ""


def _members_for(
    group: Group,
    target: GroupBackend,
    member_map: MemberMap | None,
    users: _Users | None,
    skipped: list[Skipped],
) -> tuple[Member, ...]:
    caps = target.capabilities
    members: list[Member] = []
    for member in group.members or ():
        if member.kind not in caps.member_kinds:
            reason = (
                "the target keeps no members on groups"
                if not caps.member_kinds
                else f"the target cannot hold a {member.kind.value}"
            )
            skipped.append(Skipped(group.name, reason, member))
            continue
        new_id, reason = _target_id(member, target, member_map, users)
        if new_id is None:
            skipped.append(Skipped(group.name, reason, member))
            continue
        flag = member.include_subordinates and caps.subordinates
        if member.include_subordinates and not caps.subordinates:
            skipped.append(
                Skipped(group.name, "the target cannot include subordinates; added without", member)
            )
        # Whose primary group this is, is the target's to say.
        members.append(attrs.evolve(member, id=new_id, include_subordinates=flag, primary=False))
    return tuple(members)


async def _read_all(backend: GroupBackend, groups: list[Group]) -> list[Group]:
    """``groups`` read again with ``backend.get`` (members loaded), in their order.

    As many reads run at once as the backend's throttle lets requests fly (8 for a backend
    without one): a fixed pool of workers over the list, so tasks and answers held stay
    bounded whatever its length. The first error ends the reads with that error, and no
    worker outlives the call.
    """
    throttle: Throttle | None = getattr(backend, "throttle", None)
    count = throttle.stats.max_limit if throttle is not None else 8
    read = list(groups)
    queue = iter(range(len(groups)))

    async def reader() -> None:
        for index in queue:  # one shared iterator: each index is taken once
            group_id = groups[index].id
            if group_id is not None:
                read[index] = await backend.get(group_id)

    workers = [asyncio.create_task(reader()) for _ in range(min(count, len(groups)))]
    try:
        await asyncio.gather(*workers)  # the first error ends the plan, as it is
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return read


def _without_collisions(
    groups: list[Group], target: GroupBackend, skipped: list[Skipped]
) -> list[Group]:
    """``groups`` less those whose names are one name at the target (under its case rules):
    it can hold only one of them, and which one is not ours to pick, so each is skipped with
    a reason naming them all."""
    key = target.capabilities.name_key
    same: dict[str, list[str]] = {}
    for group in groups:
        same.setdefault(key(group.name), []).append(group.name)
    kept: list[Group] = []
    for group in groups:
        names = same[key(group.name)]
        if len(names) == 1:
            kept.append(group)
            continue
        listed = ", ".join(repr(name) for name in names[:-1]) + f" and {names[-1]!r}"
        rule = "" if target.capabilities.names_case_sensitive else ", which ignores case"
        reason = f"{listed} are one name at the target{rule}: none of them is mirrored"
        skipped.append(Skipped(group.name, reason))
    return kept


@attrs.frozen
class _Match:
    """A source group as the target should hold it, and the target group it matches."""

    wanted: Group
    current: Group | None


async def plan(
    source: GroupBackend,
    target: GroupBackend,
    *,
    member_map: MemberMap | None = None,
    match_users: MatchUsers = "email",
    delete_missing: bool = False,
) -> Plan:
    """The changes that make ``target`` hold ``source``'s groups, matched by name under the
    target's case rules (``target.capabilities.name_key``).

    ``member_map`` maps a source member to its target id: a mapping keyed by ``"kind:id"``
    or by id, or a callable returning None for "no mapping". Users it does not cover are
    matched by lower-cased e-mail when both sides are a :class:`UserDirectory` and
    ``match_users="email"`` (the default); ``match_users=None`` carries their ids unchanged.
    A member that cannot be carried (no mapping, no user with its e-mail, an id or a kind
    the target cannot hold, a primary-group removal) is skipped with its reason, and its
    group is still mirrored. Source groups whose names are one name at the target are
    skipped, all of them.
    """
    if match_users not in ("email", None):
        raise ValidationError(f'must be "email" or None, not {match_users!r}', field="match_users")
    key = target.capabilities.name_key
    skipped: list[Skipped] = []
    existing: dict[str, list[Group]] = {}
    async for group in target.groups(include_inactive=True):
        existing.setdefault(key(group.name), []).append(group)
    listed = [g async for g in source.groups()]
    seen = {key(g.name) for g in listed}  # delete_missing spares every one of these
    mirrored = _without_collisions(listed, target, skipped)
    if source.capabilities.members:
        mirrored = await _read_all(source, mirrored)
    users = None
    if (
        match_users == "email"
        and isinstance(source, UserDirectory)
        and isinstance(target, UserDirectory)
        and MemberKind.USER in target.capabilities.member_kinds
        and any(m.kind is MemberKind.USER for g in mirrored for m in g.members or ())
    ):
        try:
            users = await _Users.read(source, target)
        except PermissionDeniedError as exc:  # a token without the users scope, say
            exc.message = (
                f"{exc.message} (while listing users to match them by e-mail; "
                "match_users=None carries their ids unchanged)"
            )
            raise
    matches: list[_Match] = []
    for group in mirrored:
        wanted = Group(
            name=group.name,
            description=group.description,
            members=_members_for(group, target, member_map, users, skipped),
            rank=group.rank if target.capabilities.rank else None,
        )
        try:
            target.capabilities.check_group(wanted)
        except UnigroupsError as exc:
            skipped.append(Skipped(group.name, f"the target refuses it: {exc}"))
            continue
        matches.append(_Match(wanted, _matching(existing.get(key(group.name), []), group.name)))
    operations, unchanged, names = await _changes(target, matches, skipped)
    if delete_missing:
        for group in (g for k, groups in existing.items() if k not in seen for g in groups):
            if group.active and group.id:
                operations.append(Delete(group.id))
                names[operations[-1].key] = group.name
    return Plan(
        source=source.name,
        target=target.name,
        operations=tuple(operations),
        skipped=tuple(skipped),
        unchanged=tuple(unchanged),
        names=names,
    )


def _matching(candidates: list[Group], name: str) -> Group | None:
    """The target group a source group called ``name`` matches: the one with its exact name
    if the target holds several under one key (its case rules are then set wrong), else the
    only one."""
    return next((g for g in candidates if g.name == name), candidates[0] if candidates else None)


async def _changes(
    target: GroupBackend, matches: list[_Match], skipped: list[Skipped]
) -> tuple[list[Operation], list[str], dict[str, str]]:
    """Creates and updates in the source's order, the names of unchanged groups, and each
    update's key -> its group's name. Matched target groups are read with their members
    (concurrently) when the target keeps members. A member whose primary group it is at the
    target is never removed (it can only be moved there): it is skipped with its reason."""
    found = [m.current for m in matches if m.current is not None]
    if target.capabilities.members:
        found = await _read_all(target, found)
    current_of = iter(found)
    operations: list[Operation] = []
    unchanged: list[str] = []
    names: dict[str, str] = {}
    for match in matches:
        wanted = match.wanted
        if match.current is None:
            operations.append(Create(attrs.evolve(wanted, members=wanted.members or None)))
            continue
        current = next(current_of)
        if not target.capabilities.members:
            current = attrs.evolve(current, members=wanted.members)
        # A deactivated group is restored, a name in another case renamed to the source's.
        changes = GroupChanges.between(current, wanted)
        kept = [m for m in changes.remove if m.primary]
        if kept:
            changes = attrs.evolve(changes, remove=[m for m in changes.remove if not m.primary])
            skipped.extend(Skipped(current.name, PRIMARY_KEPT, m) for m in kept)
        if changes and current.id:
            operations.append(Update(current.id, changes))
            names[operations[-1].key] = current.name  # as the target holds it now
        else:
            unchanged.append(wanted.name)
    return operations, unchanged, names


async def apply(
    plan: Plan,
    target: GroupBackend,
    *,
    concurrency: int | None = None,
    journal: str | os.PathLike[str] | None = None,
    on_progress: ProgressCallback | None = None,
) -> BatchReport:
    """Run the plan's operations on ``target`` through the batch engine."""
    return await run_batch(
        target, plan.operations, concurrency=concurrency, journal=journal, on_progress=on_progress
    )
