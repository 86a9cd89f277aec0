"""``Executor``: runs one batch operation to its one true outcome, keeping the journal."""

from __future__ import annotations

from typing import Literal

from .create_batcher import CreateBatcher, CreateMany
from .errors import (
    DuplicateGroupError,
    IncompleteWriteError,
    NotFoundError,
    ServerError,
    TransportError,
    UnigroupsError,
)
from .journal import JournalEntry, JournalStore
from .models import Group, GroupChanges, Member
from .operations import Create, Delete, Operation, Outcome, Update
from .protocol import GroupBackend

__all__ = ["Executor"]

JournalState = Literal["started", "done", "failed", "in_doubt"]


def fate_unknown(error: Exception) -> bool:
    """Whether a failed call may still have changed the vendor's state."""
    if isinstance(error, TransportError):
        return error.request_sent is not False
    return isinstance(error, ServerError)  # a 5xx may come after the vendor stored the group


def _describe(error: Exception) -> str:
    """``Type: message`` for the journal, even for an exception whose str() fails."""
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:
        return f"{type(error).__name__} (its message could not be read)"


def _sends(error: Exception) -> int:
    """How many times the failed call's request was sent (1 when nobody counted)."""
    return getattr(error, "attempts", None) or 1


class Executor:
    """Runs operations on ``backend``, recording each step in ``journal`` (when there is one).

    The transport has retried what it may before a call fails here. What is added: a create
    whose fate is unknown (now, or from an earlier run's journal) is looked up before it is
    made again, and made again only while its sends stay within ``send_budget``; a create
    found existing is completed (members it lacks are added) rather than reported done with
    less; a look-up that fails leaves the operation in doubt for the next run.
    """

    def __init__(
        self, backend: GroupBackend, journal: JournalStore | None, send_budget: int
    ) -> None:
        self.backend = backend
        self.journal = journal
        self.send_budget = send_budget
        # Creates go out several to a call where the backend can (Zoho's max_batch).
        create_many: CreateMany | None = getattr(backend, "create_many", None)
        size = backend.capabilities.max_batch
        #: Creates one call carries: a job keeps this many times more operations in flight.
        self.per_call = size if create_many is not None and size > 1 else 1
        self._make = (
            CreateBatcher(create_many, size).create
            if create_many is not None and self.per_call > 1
            else backend.create
        )

    def earlier(self, op: Operation) -> JournalEntry | None:
        return self.journal.get(op.key) if self.journal is not None else None

    async def _record(
        self,
        op: Operation,
        state: JournalState,
        *,
        group_id: str | None = None,
        error: Exception | None = None,
    ) -> None:
        if self.journal is not None:
            text = None if error is None else _describe(error)
            await self.journal.record(JournalEntry(op.key, state, group_id, text))

    async def _end(
        self,
        op: Operation,
        *,
        group: Group | None = None,
        group_id: str | None = None,
        error: Exception | None = None,
        calls: int,
        in_doubt: bool = False,
    ) -> Outcome:
        """The outcome, once the journal holds it."""
        if error is None:
            await self._record(op, "done", group_id=group_id)
            return Outcome(op, "done", group, group_id, attempts=calls)
        state: JournalState = "in_doubt" if in_doubt else "failed"
        await self._record(op, state, group_id=group_id, error=error)
        if isinstance(error, UnigroupsError):
            # A typed error says what happened; its traceback holds every frame of the call,
            # kilobytes an outcome, which a job keeping 10,000 failures cannot afford. A
            # foreign exception keeps its traceback: that is where its bug is.
            error.__traceback__ = None
        return Outcome(
            op, "failed", group_id=group_id, error=error, attempts=calls, in_doubt=in_doubt
        )

    async def failed(self, op: Operation, error: Exception) -> Outcome:
        """A foreign exception out of the backend: nobody knows what the call did, so the
        operation is in doubt (a create is looked up by the next run, never re-sent blind)."""
        return await self._end(op, error=error, calls=1, in_doubt=True)

    async def run(self, op: Operation) -> Outcome:
        if isinstance(op, Create):
            return await self._create(op)
        entry = self.earlier(op)
        await self._record(op, "started")
        try:
            if isinstance(op, Update):
                group: Group | None = await self.backend.update(op.group_id, op.changes)
            else:
                await self.backend.delete(op.group_id)
                group = None
        except UnigroupsError as exc:
            uncertain = entry is not None and entry.state in ("started", "in_doubt")
            gone = isinstance(exc, NotFoundError) and (uncertain or _sends(exc) > 1)
            if isinstance(op, Delete) and gone:  # an earlier send may have deleted it
                return await self._end(op, group_id=op.group_id, calls=1)
            group_id = exc.group_id if isinstance(exc, IncompleteWriteError) else None
            return await self._end(
                op, group_id=group_id, error=exc, calls=1, in_doubt=fate_unknown(exc)
            )
        return await self._end(op, group=group, group_id=op.group_id, calls=1)

    async def _create(self, op: Create) -> Outcome:
        entry = self.earlier(op)
        # An earlier run started it without an end, left it in doubt, or made the group but
        # not all its members: look before creating.
        look = entry is not None and (entry.state != "failed" or entry.group_id is not None)
        error: UnigroupsError | None = None
        calls = sends = 0
        while True:
            if look:
                try:
                    existing = await self.backend.find(op.group.name)
                except UnigroupsError as lookup:
                    # Whether the group exists is unknown: in doubt, for the next run.
                    return await self._end(op, error=error or lookup, calls=calls, in_doubt=True)
                if existing is not None and existing.name == op.group.name:
                    return await self._complete(op, existing, calls)
                if existing is not None:  # another spelling holds the name: not ours
                    taken = error or DuplicateGroupError(
                        f"the name {op.group.name!r} is held by {existing.name!r}",
                        backend=self.backend.name,
                    )
                    return await self._end(op, error=taken, calls=calls)
                if isinstance(error, DuplicateGroupError):
                    # Taken, yet not found by its name: not ours to claim.
                    return await self._end(op, error=error, calls=calls)
            if error is not None and sends >= self.send_budget:
                return await self._end(op, error=error, calls=calls)
            await self._record(op, "started")
            calls += 1
            try:
                group = await self._make(op.group)
            except IncompleteWriteError as exc:
                return await self._end(op, group_id=exc.group_id, error=exc, calls=calls)
            except UnigroupsError as exc:
                sends += _sends(exc)
                ours = isinstance(exc, DuplicateGroupError) and (look or error is not None)
                if not (fate_unknown(exc) or ours):
                    return await self._end(op, error=exc, calls=calls)
                error, look = exc, True
                continue
            return await self._end(op, group=group, group_id=group.id, calls=calls)

    async def _complete(self, op: Create, existing: Group, calls: int) -> Outcome:
        """A create that found its group: done once every member it asked for is there."""
        wanted = op.group.members or ()
        if not wanted or existing.id is None or not self.backend.capabilities.members:
            return await self._end(op, group=existing, group_id=existing.id, calls=calls)
        try:
            current = await self.backend.get(existing.id)
            missing = _missing(wanted, current.members or ())
            if missing:
                current = await self.backend.update(existing.id, GroupChanges(add=missing))
        except UnigroupsError as exc:
            incomplete = IncompleteWriteError(
                f"the group {existing.id} exists, but its members could not be completed: {exc}",
                group_id=existing.id,
                backend=self.backend.name,
            )
            incomplete.__cause__ = exc
            return await self._end(op, group_id=existing.id, error=incomplete, calls=calls)
        return await self._end(op, group=current, group_id=existing.id, calls=calls)


def _missing(wanted: tuple[Member, ...], held: tuple[Member, ...]) -> tuple[Member, ...]:
    """Members of ``wanted`` that ``held`` lacks, or holds with another subordinates flag."""
    have = {(m.key, m.include_subordinates) for m in held}
    return tuple(m for m in wanted if (m.key, m.include_subordinates) not in have)
