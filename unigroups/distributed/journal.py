"""A job's journal in Redis: one part's states, locked for one run at a time by a lease.

The same records a file ``Journal`` keeps (the same JSON line per operation, the same states
``started``, ``done``, ``failed``, ``in_doubt``), in one hash per job, so that any worker can
resume any part of the job. ``RedisJournal.open`` checks, before the part sends anything,
that no live run holds the part (a lock with a lease its holder renews; a worker that died
loses it after one lease), that the job was written for this target, and that every record
it will read is a journal record. ``record`` writes only while this run still holds the lock,
and raises ``JournalError`` at once when Redis refuses or cannot be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import uuid
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..errors import JournalError, ValidationError
from ..journal import JournalEntry, JournalTarget, entry_line, entry_of, read_line
from .keys import JobKeys

__all__ = ["RedisJournal"]

log = logging.getLogger("unigroups.distributed.journal")

_READ_PAGE = 1000  # records read per HMGET

# KEYS: lock, states; ARGV: token, key, line. Writes only while the lock is this run's.
_RECORD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"""
# KEYS: lock; ARGV: token, lease in ms. Extends the lease, or says it was lost (0).
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
# KEYS: lock; ARGV: token. Gives the lock back, never another run's.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

RedisErrors = (RedisError, OSError)


class RedisJournal:
    """An open part of a job's journal. Made by ``open``; implements ``JournalStore``."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: JobKeys,
        part: int,
        target: JournalTarget,
        entries: dict[str, JournalEntry],
        token: str,
        lease: float,
    ) -> None:
        self._client = client
        self.keys = keys
        self.part = part
        self._target = target
        self._entries = entries
        self._token = token
        self._lease_ms = max(1, int(lease * 1000))
        self._record_script = client.register_script(_RECORD)
        self._renew_script = client.register_script(_RENEW)
        self._failure: str | None = None
        self._renewal: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def target(self) -> JournalTarget:
        return self._target

    @property
    def location(self) -> str:
        return f"redis job {self.keys.job} part {self.part}"

    def __repr__(self) -> str:
        return f"RedisJournal(job={self.keys.job!r}, part={self.part}, target={self._target})"

    def __len__(self) -> int:
        return len(self._entries)

    # -- opening --------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        client: aioredis.Redis,
        job: str,
        *,
        target: JournalTarget,
        part: int = 0,
        keys: Iterable[str] | None = None,
        lease: float = 30.0,
        prefix: str = "unigroups:job:",
    ) -> RedisJournal:
        """Lock part ``part`` of job ``job`` for this run and read its states.

        ``keys`` are the operation keys this run will ask about (all of the job's when None).
        Raises ``JournalError`` when another live run holds the part, the job was written
        for another target, a record is damaged, or Redis cannot be reached; nothing is
        left locked by a refused open.
        """
        job_keys = JobKeys(job, prefix)
        if isinstance(part, bool) or not isinstance(part, int) or part < 0:
            raise ValidationError(f"must be an int of at least 0, not {part!r}", field="part")
        if not (isinstance(lease, int | float) and math.isfinite(lease) and lease > 0):
            raise ValidationError(f"must be seconds above 0, not {lease!r}", field="lease")
        where = f"redis job {job} part {part}"
        token = uuid.uuid4().hex
        lock = job_keys.lock(part)
        try:
            taken = await client.set(lock, token, nx=True, px=max(1, int(lease * 1000)))
            if not taken:
                left = await client.pttl(lock)
                raise JournalError(
                    f"the journal {where} is held by another run (its lease ends within "
                    f"{max(left, 0) / 1000:g} s): a part runs in one place at a time",
                    path=where,
                )
        except RedisErrors as exc:
            raise _unreachable("open", where, exc) from None
        try:
            await _check_target(client, job_keys, target, where)
            entries = await _read_entries(client, job_keys, keys, where)
        except BaseException as exc:
            with contextlib.suppress(*RedisErrors):
                await client.register_script(_UNLOCK)(keys=[lock], args=[token])
            if isinstance(exc, RedisErrors):
                raise _unreachable("open", where, exc) from None
            raise
        journal = cls(client, job_keys, part, target, entries, token, lease)
        journal._renewal = asyncio.create_task(journal._renew_forever(lease / 3))
        return journal

    # -- reading and writing ----------------------------------------------------------------

    def get(self, key: str) -> JournalEntry | None:
        return self._entries.get(key)

    async def record(self, entry: JournalEntry) -> None:
        """Keep ``entry`` in Redis; returns once Redis acknowledged it.

        Raises ``JournalError`` when Redis refuses or cannot be reached, or when this run no
        longer holds the part, and on every call after.
        """
        if self._failure is not None:
            raise JournalError(self._failure, path=self.location)
        if self._closed:
            raise JournalError(f"the journal {self.location} is closed", path=self.location)
        line = entry_line(entry)
        try:
            kept = await self._record_script(
                keys=[self.keys.lock(self.part), self.keys.states],
                args=[self._token, entry.key, line],
            )
        except RedisErrors as exc:
            message = f"cannot write to the journal {self.location}: {_reason(exc)}"
            raise self._fail(message) from None
        if not kept:
            raise self._fail(
                f"the journal {self.location} is no longer this run's: its lease ran out and "
                "another run may hold it"
            )
        self._entries[entry.key] = entry

    def _fail(self, message: str) -> JournalError:
        if self._failure is None:
            self._failure = (
                f"{message}; the job stops here (operations in flight stay 'started' and are "
                "looked up next run)"
            )
        return JournalError(self._failure, path=self.location)

    async def _renew_forever(self, every: float) -> None:
        lock = self.keys.lock(self.part)
        # Ends on the closed flag as well as on cancel: a cancel that lands in the client's
        # call can be swallowed there (seen with redis-py 8: the task then renewed the lock
        # for ever and aclose waited for it, so the part was never given back).
        while not self._closed:
            await asyncio.sleep(every)
            if self._closed:
                return
            try:
                held = await self._renew_script(keys=[lock], args=[self._token, self._lease_ms])
            except RedisErrors as exc:
                # Records fail on their own while Redis is away; the lease may still hold.
                log.warning("cannot renew the lease on %s: %s", self.location, _reason(exc))
                continue
            if not held:
                self._fail(f"the journal {self.location} lost its lease")
                return

    # -- closing --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop renewing and give the part's lock back (it lapses by its lease if Redis is
        away). Safe twice."""
        if self._closed:
            return
        self._closed = True
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
        try:
            await self._client.register_script(_UNLOCK)(
                keys=[self.keys.lock(self.part)], args=[self._token]
            )
        except RedisErrors as exc:
            log.warning("cannot unlock %s (its lease will lapse): %s", self.location, _reason(exc))

    async def __aenter__(self) -> RedisJournal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _check_target(
    client: aioredis.Redis, keys: JobKeys, target: JournalTarget, where: str
) -> None:
    mine = f"{target.backend}\n{target.fingerprint}"
    await client.set(keys.target, mine, nx=True)
    stored = await client.get(keys.target)
    text = stored.decode("utf-8", "replace") if isinstance(stored, bytes) else str(stored)
    backend, _, fingerprint = text.partition("\n")
    written_for = JournalTarget(backend, fingerprint)
    if written_for != target:
        raise JournalError(
            f"the journal {where} was written for {written_for}, not for {target}: a job "
            "belongs to one target",
            path=where,
        )


async def _read_entries(
    client: aioredis.Redis, keys: JobKeys, wanted: Iterable[str] | None, where: str
) -> dict[str, JournalEntry]:
    entries: dict[str, JournalEntry] = {}

    def keep(field: Any, raw: Any) -> None:
        name = field.decode("utf-8", "surrogateescape") if isinstance(field, bytes) else field

        def damaged(problem: str) -> JournalError:
            return JournalError(
                f"the journal {where} is damaged at the record of {name!r}: {problem}; "
                "nothing was sent",
                path=where,
            )

        key, record = read_line(raw if isinstance(raw, bytes) else str(raw).encode(), damaged)
        if key != name:
            raise damaged(f"it names {key!r}")
        entries[key] = entry_of(key, record)

    if wanted is None:
        async for field, raw in client.hscan_iter(keys.states, count=_READ_PAGE):
            keep(field, raw)
        return entries
    names = iter(wanted)
    while page := list(itertools.islice(names, _READ_PAGE)):
        for field, raw in zip(page, await client.hmget(keys.states, page), strict=True):
            if raw is not None:
                keep(field, raw)
    return entries


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _unreachable(doing: str, where: str, exc: BaseException) -> JournalError:
    return JournalError(f"cannot {doing} the journal {where}: {_reason(exc)}", path=where)
