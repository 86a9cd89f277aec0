"""unigroups jobs as Celery tasks: submit a job in parts, run each part on any worker, gather
one report.

``CeleryJobs(app, redis_url=..., targets=...)`` registers two tasks on your app, on the
producer and on every worker (import the same module in both). A job's operations are kept in
Redis, routed by group into parts; each part is one task, acknowledged late, so a part taken by
a worker that dies is delivered again (after the broker's visibility timeout) and resumed by
another worker from the job's journal. A message carries the job id and a part number only:
the target's options, and its secrets, come from the worker's own configuration.

A worker process runs every part it takes on one event loop of its own (in a thread), with one
Redis client and one ``RedisThrottle`` per shared limit: parts run by the pool's threads at
once share the process's slots, so a slot one of them frees goes straight to the next request
waiting in the process (one Redis call) instead of back to Redis for the others to poll for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from typing import Any, Literal

import attrs
import redis
import redis.asyncio as aioredis
from celery import Celery, chord
from celery.result import AsyncResult
from redis.exceptions import RedisError

from ..errors import ConfigurationError, JournalError, ValidationError
from ..http import AdaptiveThrottle
from ..journal import JournalTarget
from ..operations import Operation
from ..options import seconds, text, whole
from ..registry import open_backend
from ..targets import check_target_name, read_config, resolve_target
from .jobs import JobReport, job_report, run_part, store_job
from .keys import JobKeys, check_job_id
from .limiter import RedisThrottle
from .redis_url import password_redactor, without_password

__all__ = ["CeleryJobs", "JobHandle", "JobOptions"]

log = logging.getLogger("unigroups.distributed.celery")

RUN_PART = "unigroups.jobs.run_part"
GATHER = "unigroups.jobs.gather"
# Infrastructure that comes back (Redis restarting, a part still held by a live run): the
# part is tried again later, not failed.
_TRY_AGAIN = (JournalError, RedisError, OSError)
_Limit = tuple[str, int, Literal["fixed", "adaptive"]]  # key, limit, mode


class _Shared:
    """What the parts run in one event loop share: a Redis client (a pool of connections)
    and one ``RedisThrottle`` per limit, so that they share its slots."""

    def __init__(self, redis_url: str, lease: float, timeout: float) -> None:
        # Every call bounded: a Redis that stops answering fails the part (tried again),
        # never holds it (the limiter bounds its own blocking calls apart).
        self.client = aioredis.Redis.from_url(
            redis_url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        self.lease = lease
        self._throttles: dict[_Limit, RedisThrottle] = {}

    def throttle(self, limit: _Limit) -> RedisThrottle:
        if limit not in self._throttles:
            key, most, mode = limit
            self._throttles[limit] = RedisThrottle(
                self.client, key, most, mode=mode, lease=self.lease
            )
        return self._throttles[limit]

    async def aclose(self) -> None:
        try:
            for throttle in self._throttles.values():
                await throttle.aclose()
        finally:
            await self.client.aclose()


class _WorkerLoop:
    """The event loop a worker process runs its parts on, in a daemon thread, and what they
    share. One per process: made on the first part (in the process that runs it, so after
    a prefork pool's fork), kept for the process's life (a killed process's slots and part
    locks come back after their leases)."""

    def __init__(self, redis_url: str, lease: float, timeout: float) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.shared = _Shared(redis_url, lease, timeout)
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="unigroups-jobs", daemon=True
        )
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, dict[str, int]]) -> dict[str, int]:
        """Run ``work`` on the loop; block this (pool) thread until it ends."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    def close(self, timeout: float = 10.0) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.shared.aclose(), self.loop).result(timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout)
            if not self.thread.is_alive():
                self.loop.close()


@attrs.frozen
class JobHandle:
    """A submitted job: ``get(timeout)`` waits for its report; ``report()`` tells where it
    stands now."""

    job_id: str
    result: AsyncResult[Any] | None
    jobs: CeleryJobs = attrs.field(repr=False)

    def get(self, timeout: float) -> JobReport:
        """The report once every part ended; celery's TimeoutError after ``timeout`` s."""
        if self.result is None:
            return self.report()
        return JobReport.from_dict(self.result.get(timeout=timeout))

    def report(self) -> JobReport:
        return self.jobs.report(self.job_id)


def _a_second_at_least(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 1:  # less would expire a job while it is being written
        raise ConfigurationError(
            f"{attribute.name} must be at least 1 second, not {value!r}", option=attribute.name
        )


@attrs.frozen
class JobOptions:
    """The options of ``CeleryJobs`` (see there), each checked next to its field."""

    concurrency: int = attrs.field(default=10, validator=whole(1))
    lease: float = attrs.field(default=30.0, validator=seconds())
    keep_for: float = attrs.field(default=7 * 86400, validator=[seconds(), _a_second_at_least])
    prefix: str = attrs.field(default="unigroups:", validator=text)
    retry_every: float = attrs.field(default=1.0, validator=seconds())
    retry_for: float = attrs.field(default=600.0, validator=seconds(zero=True))
    redis_timeout: float = attrs.field(default=10.0, validator=seconds())


class CeleryJobs:
    """unigroups' job tasks on ``app``.

    ``redis_url``: the Redis that holds jobs, their journals and the shared limits (it may be
    the broker's). ``targets``: on workers, where targets are defined: a ``unigroups.toml``
    path (``[targets.NAME]`` tables, secrets as ``${ENV_VAR}``) or a mapping of names to
    ``{"backend": ..., **options}``. Each target's ``max_concurrency`` (default 10) and
    ``throttle`` ("adaptive" or "fixed") become one limit shared by every worker, keyed by
    where the target points (two targets on one org share it). ``concurrency``: operations
    in flight per part; ``lease``: seconds a dead worker keeps its part and its slots;
    ``retry_for``: how long a part waits for Redis to come back (or for a live run that
    holds it) before its task fails. ``redis_timeout``: seconds to connect to Redis and for
    each of its answers, here and on workers; a Redis that cannot be reached in time is a
    ``JournalError`` for ``submit`` and ``report``.
    """

    def __init__(
        self,
        app: Celery,
        *,
        redis_url: str,
        targets: str | os.PathLike[str] | Mapping[str, Mapping[str, Any]] | None = None,
        concurrency: int = 10,
        lease: float = 30.0,
        keep_for: float = 7 * 86400,
        prefix: str = "unigroups:",
        retry_every: float = 1.0,
        retry_for: float = 600.0,
        redis_timeout: float = 10.0,
    ) -> None:
        if not isinstance(redis_url, str) or not redis_url.startswith(("redis://", "rediss://")):
            raise ConfigurationError("redis_url must be a redis:// or rediss:// URL")
        # Checked here, where the job is configured, not on a worker at its first part.
        checked = JobOptions(
            concurrency, lease, keep_for, prefix, retry_every, retry_for, redis_timeout
        )
        self.app = app
        self.redis_url = redis_url
        self._targets_option = targets
        self._targets: dict[str, dict[str, Any]] | None = None
        self.concurrency = checked.concurrency
        self.lease = checked.lease
        self.keep_for = checked.keep_for
        self.prefix = checked.prefix
        self.retry_every = checked.retry_every
        self.retry_for = checked.retry_for
        self.redis_timeout = checked.redis_timeout
        #: Where the jobs are kept, as messages name it (no password).
        self.store = without_password(redis_url)
        self._redact = password_redactor(redis_url)
        self._limits: dict[str, _Limit] = {}
        self._client: redis.Redis | None = None
        self._worker_loop: _WorkerLoop | None = None
        self._worker_lock = threading.Lock()
        jobs = self

        # Acknowledged when done, not when taken: a part whose worker dies is delivered again.
        @app.task(name=RUN_PART, acks_late=True, reject_on_worker_lost=True)
        def run_part_task(job_id: str, part: int) -> dict[str, int]:
            return jobs.run_part_until_done(job_id, part)

        @app.task(name=GATHER)
        def gather_task(_counts: list[dict[str, int]], job_id: str) -> dict[str, Any]:
            return jobs.report(job_id).to_dict()

        self.run_part_task = run_part_task
        self.gather_task = gather_task

    def __repr__(self) -> str:
        return f"CeleryJobs(app={self.app.main!r})"

    # -- the producer ---------------------------------------------------------------------

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(
                self.redis_url,
                socket_connect_timeout=self.redis_timeout,
                socket_timeout=self.redis_timeout,
            )
        return self._client

    @contextlib.contextmanager
    def _store_errors(self) -> Iterator[None]:
        """A Redis error (down, too slow, refusing) as the JournalError of the job store."""
        try:
            yield
        except RedisError as exc:
            raise JournalError(
                f"the job store {self.store} cannot be used: "
                f"{self._redact(str(exc) or type(exc).__name__)}",
                path=self.store,
            ) from None

    def keys(self, job_id: str) -> JobKeys:
        return JobKeys(job_id, f"{self.prefix}job:")

    def submit(
        self,
        operations: Iterable[Operation],
        *,
        target: str,
        parts: int = 16,
        job_id: str | None = None,
    ) -> JobHandle:
        """Keep the operations in Redis and queue one task per part that holds any.

        Operations on one group go to one part, in the order given. ``target`` names a
        target of the workers' configuration. Raises ``ValidationError`` (nothing queued)
        for a bad operation, a duplicate key, or a job id in use; ``ConfigurationError`` for
        a target this process's ``targets`` lacks (when it was given some: its secrets are
        not read here).
        """
        if self._targets_option is not None:
            check_target_name(self._target_tables(), target)
        job_id = check_job_id(job_id) if job_id is not None else uuid.uuid4().hex
        keys = self.keys(job_id)
        with self._store_errors():
            used = store_job(
                self.client, keys, operations, target=target, parts=parts, keep_for=self.keep_for
            )
        if not used:
            return JobHandle(job_id, None, self)
        header = [self.run_part_task.s(job_id, part) for part in used]
        result = chord(header)(self.gather_task.s(job_id))
        return JobHandle(job_id, result, self)

    def report(self, job_id: str) -> JobReport:
        with self._store_errors():
            return job_report(self.client, self.keys(job_id))

    # -- the workers ----------------------------------------------------------------------

    def run_part_until_done(self, job_id: str, part: int) -> dict[str, int]:
        """Run the part; while Redis is away or another live run holds the part, wait and
        run it again (the journal skips what is done), for at most ``retry_for`` seconds.

        Retried here rather than by a new message: publishing one needs the broker, which
        may be the very Redis that is away.
        """
        worker = self._worker()
        deadline = time.monotonic() + self.retry_for
        pause = self.retry_every
        while True:
            try:
                with self._store_errors():  # what ends the part for good is typed
                    return worker.run(self._run_part(worker.shared, job_id, part))
            except _TRY_AGAIN as exc:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning(
                    "part %d of job %s stopped (%s); running it again in %g s",
                    part,
                    job_id,
                    exc,
                    pause,
                )
                time.sleep(pause)
                pause = min(pause * 2, 10.0)

    def close_worker(self) -> None:
        """Stop this process's worker loop, if it runs one (its parts must have ended): its
        throttles give back what they hold and its Redis client closes. A later part makes
        a new one."""
        with self._worker_lock:
            worker, self._worker_loop = self._worker_loop, None
        if worker is not None and worker.pid == os.getpid():
            worker.close()

    def _worker(self) -> _WorkerLoop:
        with self._worker_lock:
            if self._worker_loop is None or self._worker_loop.pid != os.getpid():
                self._worker_loop = _WorkerLoop(self.redis_url, self.lease, self.redis_timeout)
            return self._worker_loop

    async def run_part(self, job_id: str, part: int) -> dict[str, int]:
        """Run one part of a job here (what the task does, callable without Celery), with a
        Redis client and throttle of its own."""
        shared = _Shared(self.redis_url, self.lease, self.redis_timeout)
        try:
            return await self._run_part(shared, job_id, part)
        finally:
            await shared.aclose()

    async def _run_part(self, shared: _Shared, job_id: str, part: int) -> dict[str, int]:
        keys = self.keys(job_id)
        client = shared.client
        name = await client.hget(keys.meta, "target")
        if name is None:
            raise ValidationError(f"no job {job_id!r} (never submitted, or expired)")
        target = name.decode() if isinstance(name, bytes) else name
        backend_name, options = self.target(target)
        throttle = shared.throttle(await self._shared_limit(target, backend_name, options))
        backend = open_backend(backend_name, {**options, "throttle": throttle})
        async with backend:
            return await run_part(
                client, keys, part, backend, concurrency=self.concurrency, lease=self.lease
            )

    def target(self, name: str) -> tuple[str, dict[str, Any]]:
        """(backend name, options) of the target ``name`` in this worker's configuration."""
        return resolve_target(self._target_tables(), name)

    def _target_tables(self) -> dict[str, dict[str, Any]]:
        if self._targets is None:
            self._targets = _read_targets(self._targets_option)
        return self._targets

    async def _shared_limit(
        self, target: str, backend_name: str, options: dict[str, Any]
    ) -> _Limit:
        """(key, limit, mode) of the one limit every worker keeps for this target.

        Read from the target opened as configured (which sends nothing): its options checked
        as the backend checks them, its limit and throttle mode, and where it points (its
        fingerprint, never a secret), so that two target names for one org share a limit.
        """
        if target not in self._limits:
            probe = open_backend(backend_name, options)
            try:
                throttle = getattr(probe, "throttle", None)
                limit = throttle.stats.max_limit if throttle is not None else 10
                mode: Literal["fixed", "adaptive"] = (
                    "adaptive" if isinstance(throttle, AdaptiveThrottle) else "fixed"
                )
                key = str(JournalTarget.of(probe))
            finally:
                await probe.aclose()
            self._limits[target] = (key, limit, mode)
        return self._limits[target]


def _read_targets(
    option: str | os.PathLike[str] | Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    if option is None:
        return {}
    if isinstance(option, Mapping):
        return {str(name): dict(table) for name, table in option.items()}
    return dict(read_config(os.fspath(option)).targets)
