"""A group's members at SuperOffice: each user's other groups (``User.OtherGroups``), changed
one user at a time by JSON Patch, a removal guarded by a ``test`` op.

Membership lives on users, so adding or removing N members is N requests (``PATCH
/User/{id}``), each through the backend's throttle. Every user is read before anything is
written: an unknown user, or a removal from a user's primary group, stops the call while
nothing has changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

import attrs

from ...errors import BackendError, IncompleteWriteError, NotFoundError, UnsupportedOperationError
from ...http import Reply, Request, path_segment
from . import wire

__all__ = ["Memberships", "UserRead"]

#: How often a removal is tried again from a fresh read when the user changed in between.
CONFLICT_ATTEMPTS: Final = 5

Send = Callable[[Request], Awaitable[Reply]]


@attrs.frozen
class UserRead:
    """A user as ``GET /User/{id}`` answered: the fields read, and the answer as received."""

    entity: wire.UserEntity
    raw: Any


@attrs.define
class Memberships:
    """Reads users and changes their other groups, through ``send`` (the backend's users
    endpoint: its throttle, retries and error mapping)."""

    send: Send
    backend: str
    conflict_attempts: int = CONFLICT_ATTEMPTS

    async def read(self, user_id: str) -> UserRead:
        """``GET /User/{id}``; an unknown id is a NotFoundError naming it."""
        reply = await self._send(user_id, Request("GET", self._path(user_id)))
        return UserRead(wire.user_entity(reply.data), reply.data)

    async def read_all(self, user_ids: Iterable[str]) -> dict[str, wire.UserEntity]:
        """Every user at once; the first failure (in the order given) once all have ended."""
        ids = list(dict.fromkeys(user_ids))
        outcomes = await asyncio.gather(*(self.read(u) for u in ids), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return {u: o.entity for u, o in zip(ids, outcomes, strict=True) if isinstance(o, UserRead)}

    def refuse_primary_removals(
        self, group_id: int, remove: Iterable[str], users: dict[str, wire.UserEntity]
    ) -> None:
        """UnsupportedOperationError, naming the user, for a removal from its primary group."""
        for user_id in remove:
            if users[user_id].primary_group_id == group_id:
                raise primary_removal_error(user_id, group_id)

    async def write(
        self,
        group_id: int,
        *,
        add: Sequence[str],
        remove: Sequence[str],
        users: dict[str, wire.UserEntity],
        written_before: bool,
    ) -> None:
        """Add and remove, one request per user that needs one, all through the throttle.

        A failure after something of the call was written (``written_before``: the group's
        own fields, or the group itself) is an IncompleteWriteError; with nothing written,
        the first error itself (a NotFoundError naming an unknown user, say).
        """
        joins = [u for u in add if group_id not in _groups(users[u])]
        leaves = [u for u in remove if group_id in users[u].other_group_ids]
        jobs = [self._join(u, group_id) for u in joins]
        jobs += [self._leave(u, group_id, users[u]) for u in leaves]
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if not errors:
            return
        first = errors[0]
        written = len(outcomes) - len(errors)
        if not isinstance(first, BackendError) or not (written or written_before):
            raise first
        error = IncompleteWriteError(
            f"the group {group_id} was written in part ({written} of {len(outcomes)} member "
            f"changes were made, {len(errors)} failed): {first}; running the same change "
            "again completes it",
            group_id=str(group_id),
            backend=self.backend,
            status=first.status,
            code=first.code,
        )
        raise error from first

    async def _join(self, user_id: str, group_id: int) -> None:
        await self._patch(user_id, wire.add_other_group(group_id), replay_safe=False)

    async def _leave(self, user_id: str, group_id: int, user: wire.UserEntity) -> None:
        """Remove the group from the user's other groups: each PATCH tests that the entry it
        removes still is that group; a 409 (the list changed) reads the user again."""
        tries = 0
        while group_id in user.other_group_ids:
            if tries == self.conflict_attempts:
                raise BackendError(
                    f"user {user_id}'s other groups kept changing while group {group_id} was "
                    f"being removed ({tries} attempts, each answered 409); it was not removed",
                    backend=self.backend,
                    status=409,
                    code="409",
                )
            tries += 1
            patch = wire.remove_other_group(user.other_group_ids.index(group_id), group_id)
            try:
                # Sending it twice is harmless: the test of a replay fails, nothing is removed.
                reply = await self._patch(user_id, patch, replay_safe=True)
            except BackendError as exc:
                if exc.status != 409:
                    raise
                user = (await self.read(user_id)).entity
            else:
                user = wire.user_entity(reply.data)

    async def _patch(self, user_id: str, patch: list[Any], *, replay_safe: bool) -> Reply:
        request = Request("PATCH", self._path(user_id), body=patch, replay_safe=replay_safe)
        return await self._send(user_id, request)

    async def _send(self, user_id: str, request: Request) -> Reply:
        try:
            return await self.send(request)
        except NotFoundError as exc:
            raise NotFoundError(
                f"no SuperOffice user has the id {user_id}",
                backend=self.backend,
                status=exc.status,
                code=exc.code,
                raw=exc.raw,
            ) from exc

    @staticmethod
    def _path(user_id: str) -> str:
        return f"{wire.USERS}/{path_segment(user_id)}"


def _groups(user: wire.UserEntity) -> set[int | None]:
    return {user.primary_group_id, *user.other_group_ids}


def primary_removal_error(user_id: str, group_id: int) -> UnsupportedOperationError:
    return UnsupportedOperationError(
        f"user {user_id} cannot be removed from group {group_id}: it is the user's primary "
        "group (User.UserGroup), which SuperOffice never leaves empty; give the user another "
        "primary group in SuperOffice first",
        capability="member_kinds",
    )
