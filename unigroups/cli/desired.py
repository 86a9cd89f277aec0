"""A desired-state file made into the groups a target should hold, checked against it.

Before anything is sent: two groups whose names are one name at the target (under its case
rules) are refused, and users named by e-mail are looked up in the target's user directory.
"""

from __future__ import annotations

from ..errors import ConfigurationError, ValidationError
from ..models import Group, Member
from ..protocol import GroupBackend, UserDirectory
from .files import DesiredGroup, DesiredState

__all__ = ["desired_groups"]


def _check_names(state: DesiredState, target: GroupBackend, path: str) -> None:
    key = target.capabilities.name_key
    first: dict[str, int] = {}
    for n, group in enumerate(state.groups):
        earlier = first.setdefault(key(group.name), n)
        if earlier != n:
            other = state.groups[earlier].name
            rule = "" if target.capabilities.names_case_sensitive else ", which ignores case"
            raise ConfigurationError(
                f"{path}: groups[{earlier}] {other!r} and groups[{n}] {group.name!r} are one "
                f"name at {target.name}{rule}; name each group once",
                option="groups",
            )


async def _user_ids(target: GroupBackend, emails: set[str], path: str) -> dict[str, str]:
    """Lower-cased e-mail -> the target's user id, for each of ``emails``."""
    if not isinstance(target, UserDirectory):
        raise ConfigurationError(
            f"{path}: members named by email need a target that lists its users, and "
            f"{target.name} does not; give their ids instead",
            option="email",
        )
    found: dict[str, str] = {}
    async for user in target.users():
        email = (user.email or "").lower()
        if email not in emails:
            continue
        if email in found and found[email] != user.id:
            raise ConfigurationError(
                f"{path}: two users of {target.name} have the email {email} "
                f"({found[email]} and {user.id}); name the member by id",
                option="email",
            )
        found[email] = user.id
    missing = sorted(emails - found.keys())
    if missing:
        raise ConfigurationError(
            f"{path}: no active user of {target.name} has the email {missing[0]}"
            + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else ""),
            option="email",
        )
    return found


def _group(item: DesiredGroup, ids: dict[str, str]) -> Group:
    members = [
        Member(
            m.kind,
            m.id if m.id is not None else ids[(m.email or "").lower()],
            m.name,
            include_subordinates=m.include_subordinates,
        )
        for m in item.members
    ]
    return Group(name=item.name, description=item.description, members=tuple(members))


async def desired_groups(state: DesiredState, target: GroupBackend, path: str) -> list[Group]:
    """The groups of ``state`` as ``target`` should hold them (e-mails made user ids)."""
    _check_names(state, target, path)
    emails = {m.email.lower() for g in state.groups for m in g.members if m.email is not None}
    ids = await _user_ids(target, emails, path) if emails else {}
    groups = []
    for n, item in enumerate(state.groups):
        try:
            groups.append(_group(item, ids))
        except ValidationError as exc:
            error = ValidationError(f"{path}: groups[{n}]: {exc}")
            error.field = exc.field
            raise error from None
    return groups
