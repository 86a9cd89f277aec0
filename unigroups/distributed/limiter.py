"""``RedisThrottle``: one request limit per vendor org key, shared by worker processes on Redis.

It implements ``unigroups.http.throttle.Throttle``, so a backend takes it as its ``throttle=``
option; every process (on any machine) that builds one with the same Redis, ``prefix`` and
``key`` shares one set of slots.

Slots are a semaphore with leases: a Redis sorted set of lease tokens scored by when their
lease ends, on the Redis server's clock (``TIME`` inside the scripts, so the workers' clocks
do not matter). Each process renews the leases it holds every ``lease / 3`` seconds, so a
long request keeps its slot; a process that dies (SIGKILL, a lost machine) stops renewing,
and its slots come back to the others after at most one ``lease``. Acquire and release are
each one Lua script, so every decision is atomic.

``release`` is synchronous in the protocol: it frees this process's bookkeeping at once and
does the Redis work in a background task it keeps track of. When this process has requests
waiting for a slot, the release script hands the freed slot straight to the next of them in
the same call while no other process waits (pollers register in a short-lived sorted set of
waiting processes), or while this process holds no more than its share of the cap (the cap
divided by the processes waiting, itself included). Past its share the slot goes back to
the pool for a process that holds less, so no worker starves, and within it slots pass on
inside the process with no round trip between processes. Inside a process, waiters are
served first come, first served, by a single poller per throttle that asks Redis while the
slots are full.

Between processes, a waiting poller does not sleep: it blocks on ``BLPOP`` of a wake list (on
a connection of its own). Every script that leaves a slot free while other processes wait
pushes a wake token for them, at most one per waiting process in the list (a release, a drop
of unused slots, an acquire that left some free); Redis hands each token to the poller that
has blocked longest, which then asks for slots at once. A freed slot so waits one Redis round
trip, not a poll interval. The token list expires with the waiting registrations. ``poll`` is
the fallback: a poller asks anyway after about ``poll`` seconds (with jitter, never past a
waiter's deadline), so a token lost (popped by a process that then died), a lease that ran
out, or a limit that grew costs at most one ``poll``. ``grants`` counts how each slot came:
``direct``, ``handoff`` (passed on in this process), ``wake`` or ``poll``.

A 429's Retry-After becomes a shared pause that every process's ``acquire`` honours, in
both modes. ``mode="adaptive"`` also shares what the 429s taught: this is the same AIMD rule
as ``AdaptiveThrottle`` (a 429 shrinks the limit by 0.75, at most once per round trip; each
success grows it by ``1 / limit``, by a sixteenth of that near the level last refused; never
below 1 nor above ``limit``), run in Redis so that every process sees one limit. (The
in-process throttle's refinement for a burst of 429s within one round trip, which needs the
recent successes of every sender, is left out.)

Every wait is bounded by ``max_wait``: a pause longer than what is left refuses at once, and
while Redis cannot be reached ``acquire`` keeps trying with a short backoff until its
deadline, then returns None; it never raises a Redis error to the transport. A release that
cannot reach Redis is logged and its slot comes back when its lease ends.

Redis keys, for ``prefix`` ``P`` and key ``K`` (``{K}`` is a cluster hash tag, so the four
keys live on one node):

- ``P{K}:slots``: sorted set, lease token -> lease end (server time, milliseconds);
- ``P{K}:state``: hash with ``limit`` (float; adaptive), ``rate_limited`` (429s seen),
  ``paused_until`` (server time, ms), ``refused_at`` (the limit at the last decrease) and
  ``last_decrease`` (server time, ms); kept a day after its last change;
- ``P{K}:waiting``: sorted set, throttle instance id -> when its registration lapses;
- ``P{K}:wake``: list of wake tokens, at most one per waiting process, expiring with them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import math
import os
import random
import socket
import time
import unicodedata
import uuid
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import attrs
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import ConfigurationError
from ..http.throttle import Permit, SendOutcome, ThrottleStats
from .redis_url import password_redactor

__all__ = ["RedisPermit", "RedisThrottle"]

log = logging.getLogger("unigroups.distributed.limiter")

#: Errors that mean "Redis could not be asked" (down, restarting, slow, a broken link).
_UNREACHABLE: Final = (RedisError, OSError, TimeoutError)
#: Of those, the ones after which a script may have run with its answer lost.
_ANSWER_LOST: Final = (RedisTimeoutError, TimeoutError)

# The AIMD constants of AdaptiveThrottle's defaults.
_DECREASE: Final = 0.75
_INCREASE: Final = 1.0
_PROBE: Final = 0.0625

_STATE_TTL_MS: Final = 86_400_000  # the shared state lapses a day after its last change
_SHORTEST_BLOCK: Final = 0.01  # seconds; a shorter wait for a wake token is a plain sleep
_SCHEMES: Final = ("redis", "rediss", "unix")

# Shared prelude: server time in ms, expired leases and lapsed waiters dropped, the limit.
# KEYS: slots, state, waiting, wake.  ARGV[1]: adaptive (0/1), ARGV[2]: the configured limit.
_PRELUDE = """
local slots, state, waiting, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local adaptive = ARGV[1] == '1'
local max_limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
redis.call('ZREMRANGEBYSCORE', waiting, '-inf', now)
local limit = max_limit
if adaptive then
  limit = tonumber(redis.call('HGET', state, 'limit')) or max_limit
  if limit > max_limit then limit = max_limit end
  if limit < 1 then limit = 1 end
end
local cap = math.max(1, math.floor(limit))
local function expire_slots()
  local last = redis.call('ZRANGE', slots, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', slots, tonumber(last[2]) + 1000) end
end
-- Slots left free while other processes wait: one wake token for each (at most one token
-- per waiting process in the list), popped by their pollers blocked on BLPOP.
local function wake_others(me, wait_ttl)
  if (tonumber(redis.call('HGET', state, 'paused_until')) or 0) > now then return end
  local free = cap - redis.call('ZCARD', slots)
  if free <= 0 then return end
  local others = redis.call('ZCARD', waiting)
  if redis.call('ZSCORE', waiting, me) then others = others - 1 end
  local tokens = math.min(free, others - redis.call('LLEN', wake))
  for _ = 1, tokens do redis.call('RPUSH', wake, '1') end
  if tokens > 0 then redis.call('PEXPIRE', wake, wait_ttl) end
end
local function reply(extra)
  local paused = (tonumber(redis.call('HGET', state, 'paused_until')) or 0) - now
  if paused < 0 then paused = 0 end
  local rate_limited = tonumber(redis.call('HGET', state, 'rate_limited')) or 0
  return {extra, tostring(limit), rate_limited, paused, redis.call('ZCARD', slots)}
end
"""

# ARGV[3]: lease (ms), ARGV[4]: this instance's id, ARGV[5]: how long a waiting
# registration lasts (ms), ARGV[6..]: one fresh token per slot wanted.
# Reply: {slots granted (the first ones of the tokens), limit, 429s, pause (ms), held}.
_ACQUIRE = (
    _PRELUDE
    + """
local lease, me, wait_ttl = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local wanted = #ARGV - 5
local granted = 0
local paused = (tonumber(redis.call('HGET', state, 'paused_until')) or 0) > now
if not paused then
  granted = math.min(wanted, cap - redis.call('ZCARD', slots))
  if granted < 0 then granted = 0 end
  for i = 1, granted do redis.call('ZADD', slots, now + lease, ARGV[5 + i]) end
  if granted > 0 then expire_slots() end
end
if granted < wanted then
  redis.call('ZADD', waiting, now + wait_ttl, me)
  redis.call('PEXPIRE', waiting, wait_ttl + 1000)
else
  redis.call('ZREM', waiting, me)
end
wake_others(me, wait_ttl)
return reply(granted)
"""
)

# ARGV[3]: lease (ms), ARGV[4]: this instance's id, ARGV[5]: the token given back,
# ARGV[6]: outcome ('ok', 'rate_limited', 'failed'), ARGV[7]: Retry-After (ms, 0 for none),
# ARGV[8]: this process's round trip (ms), ARGV[9]: a token for a local waiter, or '',
# ARGV[10]: how long a wake token lasts (ms), ARGV[11]: slots this process holds, the one
# given back included.
# Reply: {1 when the slot went to the local waiter's token, limit, 429s, pause (ms), held}.
_RELEASE = (
    _PRELUDE
    + f"""
local lease, me, token, outcome = tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local retry_after, round_trip, next_token = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local wait_ttl, held = tonumber(ARGV[10]), tonumber(ARGV[11])
redis.call('ZREM', slots, token)
local changed = false
if outcome == 'rate_limited' then
  redis.call('HINCRBY', state, 'rate_limited', 1)
  changed = true
  local paused_until = tonumber(redis.call('HGET', state, 'paused_until')) or 0
  if retry_after > 0 and now + retry_after > paused_until then
    redis.call('HSET', state, 'paused_until', now + retry_after)
  end
  if adaptive then
    local last = tonumber(redis.call('HGET', state, 'last_decrease')) or 0
    if now - last > round_trip then
      redis.call('HSET', state, 'refused_at', tostring(limit))
      limit = math.max(1, limit * {_DECREASE})
      redis.call('HSET', state, 'last_decrease', now)
    end
  end
elseif outcome == 'ok' and adaptive and limit < max_limit then
  local step = {_INCREASE} / limit
  local refused_at = tonumber(redis.call('HGET', state, 'refused_at'))
  if refused_at and limit >= refused_at - 1 then
    step = step * {_PROBE}
    if limit > refused_at + 1 then redis.call('HDEL', state, 'refused_at') end
  end
  limit = math.min(max_limit, limit + step)
  changed = true
end
if adaptive and changed then redis.call('HSET', state, 'limit', tostring(limit)) end
if changed then redis.call('PEXPIRE', state, {_STATE_TTL_MS}) end
cap = math.max(1, math.floor(limit))
local handed = 0
if next_token ~= '' then
  local others = redis.call('ZCOUNT', waiting, '(' .. now, '+inf')
  if redis.call('ZSCORE', waiting, me) then others = others - 1 end
  local paused = (tonumber(redis.call('HGET', state, 'paused_until')) or 0) > now
  -- Kept for the local waiter while this process holds no more than its share of the cap
  -- (so most slots pass on in the process, with no Redis round trip between processes);
  -- past it, the slot goes back to the pool and wakes a process that holds less.
  local within_share = held * (others + 1) <= cap
  if (others <= 0 or within_share) and not paused and redis.call('ZCARD', slots) < cap then
    redis.call('ZADD', slots, now + lease, next_token)
    handed = 1
  end
end
expire_slots()
wake_others(me, wait_ttl)
return reply(handed)
"""
)

# ARGV[3]: lease (ms), ARGV[4..]: tokens held. Reply: {leases renewed, ...}.
_RENEW = (
    _PRELUDE
    + """
local lease = tonumber(ARGV[3])
local renewed = 0
for i = 4, #ARGV do
  if redis.call('ZSCORE', slots, ARGV[i]) then
    redis.call('ZADD', slots, now + lease, ARGV[i])
    renewed = renewed + 1
  end
end
expire_slots()
return reply(renewed)
"""
)

# ARGV[3]: this instance's id, ARGV[4]: how long a wake token lasts (ms), ARGV[5..]: tokens
# to drop (no lesson learnt).
_FORGET = (
    _PRELUDE
    + """
local me = ARGV[3]
for i = 5, #ARGV do redis.call('ZREM', slots, ARGV[i]) end
redis.call('ZREM', waiting, me)
wake_others(me, tonumber(ARGV[4]))
return reply(0)
"""
)


@attrs.frozen
class RedisPermit(Permit):
    """A slot of a ``RedisThrottle``: ``token`` is its lease's member in the slots set."""

    token: str


@attrs.define
class _Waiter:
    future: asyncio.Future[RedisPermit | None]
    deadline: float  # loop time


def _check_key(value: object, option: str, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{option} must be a str, not {value!r}", option=option)
    if not value and not empty:
        raise ConfigurationError(f"{option} must not be empty", option=option)
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise ConfigurationError(
            f"{option} must not hold control or unprintable characters: {value!r}",
            option=option,
        )
    return value


def _check_seconds(value: object, option: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(
            f"{option} must be a number of seconds, not {value!r}", option=option
        )
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(
            f"{option} must be a finite number of seconds above 0, not {value!r}", option=option
        )
    return float(value)


class RedisThrottle:
    """At most ``limit`` requests in flight for ``key``, across every process sharing Redis.

    ``redis`` is a URL (``redis://``, ``rediss://``, ``unix://``; the client is made inside
    the running loop on first use and closed by ``aclose``) or a ``redis.asyncio.Redis``
    (used as it is and never closed here). ``mode`` is ``"fixed"`` or ``"adaptive"`` (AIMD
    from 429s, learnt once for every process). ``lease`` is how long a slot outlives a
    process that stopped renewing it; ``poll`` how long a waiting process waits for a wake
    token before it asks for a slot anyway.
    Use it with ``async with`` or call ``aclose`` to give back the slots still held.
    """

    def __init__(
        self,
        redis: str | aioredis.Redis,
        key: str,
        limit: int,
        *,
        mode: Literal["fixed", "adaptive"] = "fixed",
        lease: float = 30.0,
        poll: float = 0.05,
        prefix: str = "unigroups:limit:",
    ) -> None:
        if isinstance(redis, str):
            parts = urlsplit(redis)
            if parts.scheme not in _SCHEMES:
                raise ConfigurationError(
                    "redis must be a redis://, rediss:// or unix:// URL or a "
                    f"redis.asyncio.Redis, not a URL with scheme {parts.scheme!r}",
                    option="redis",
                )
            self._url: str | None = redis
            self._client: aioredis.Redis | None = None
        elif isinstance(redis, aioredis.Redis):
            self._url = None
            self._client = redis
        else:
            raise ConfigurationError(
                f"redis must be a URL or a redis.asyncio.Redis, not {type(redis).__name__}",
                option="redis",
            )
        self._redactor = password_redactor(self._url)
        self.key = _check_key(key, "key")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigurationError(
                f"limit must be an int of at least 1, not {limit!r}", option="limit"
            )
        if mode not in ("fixed", "adaptive"):
            raise ConfigurationError(
                f"mode must be 'fixed' or 'adaptive', not {mode!r}", option="mode"
            )
        self.max_limit = limit
        self.mode = mode
        self.lease = _check_seconds(lease, "lease")
        self.poll = _check_seconds(poll, "poll")
        self.prefix = _check_key(prefix, "prefix", empty=True)
        base = f"{self.prefix}{{{self.key}}}"
        self._keys = [f"{base}:slots", f"{base}:state", f"{base}:waiting", f"{base}:wake"]
        self._id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._tokens = itertools.count(1)
        self._lease_ms = max(1, round(self.lease * 1000))
        self._wait_ttl_ms = max(250, round(self.poll * 1000 * 20))
        self._call_timeout = min(5.0, max(1.0, self.lease))  # one Redis call, at most
        self._close_timeout = min(5.0, self.lease)
        self._scripts: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # What this process knows.
        self._held: dict[str, RedisPermit] = {}
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._incoming = 0  # releases under way that asked for a handoff to a waiter
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._waker: aioredis.Redis | None = None  # the poller's own connection, for BLPOP
        #: How the slots were granted: "direct" (asked at once), "handoff" (a release in this
        #: process passed it on), "wake" (asked after a wake token), "poll" (asked otherwise).
        self.grants: collections.Counter[str] = collections.Counter()
        self._renewer: asyncio.Task[None] | None = None
        self._closed = False
        self._limit = float(limit)
        self._rate_limited = 0
        self._paused_until = 0.0  # loop time (monotonic)
        self._waits = 0
        self._waited = 0.0
        self._refused = 0
        self._round_trip = 0.05  # seconds; a moving average of how long a send takes

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(key={self.key!r}, limit={self.stats.limit}, "
            f"max_limit={self.max_limit}, mode={self.mode!r}, in_flight={len(self._held)})"
        )

    # -- the protocol -------------------------------------------------------------------

    @property
    def stats(self) -> ThrottleStats:
        return ThrottleStats(
            limit=max(1, int(self._limit)),
            max_limit=self.max_limit,
            in_flight=len(self._held),
            rate_limited=self._rate_limited,
            waits=self._waits,
            waited=self._waited,
            refused=self._refused,
            paused_for=max(0.0, self._paused_until - time.monotonic()),
        )

    async def acquire(self, *, max_wait: float) -> RedisPermit | None:
        """A slot, waiting at most ``max_wait`` seconds; None when that is not enough."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        self._bind()
        started = time.monotonic()
        deadline = started + max(0.0, max_wait)
        queued = False
        try:
            if self._paused_until > deadline:
                self._refuse()  # a known pause outlasts the wait: no need to ask
                return None
            if not self._waiters:
                reply = await self._direct(deadline)
                if isinstance(reply, RedisPermit):
                    return reply
                if self._paused_until > deadline:
                    self._refuse()
                    return None
            if time.monotonic() >= deadline:
                self._refuse()
                return None
            queued = True
            permit = await self._queue(deadline)
            if permit is None:
                self._refuse()
            return permit
        finally:
            if queued:
                self._waits += 1
                self._waited += time.monotonic() - started

    def release(
        self, permit: Permit, outcome: SendOutcome, retry_after: float | None = None
    ) -> None:
        """Give the slot back and say how the send ended (the Redis part runs in the
        background; if Redis cannot be reached, the slot comes back when its lease ends)."""
        token = getattr(permit, "token", None)
        if not isinstance(token, str) or self._held.pop(token, None) is None:
            log.debug("%s: a permit released twice or not this throttle's", self.key)
            return
        now = time.monotonic()
        self._round_trip = 0.9 * self._round_trip + 0.1 * max(0.0, now - permit.started)
        if outcome == "rate_limited" and retry_after:
            # Known here at once; the shared pause follows with the script's reply.
            self._paused_until = max(self._paused_until, now + retry_after)
        next_token = ""
        if not self._closed and self._unserved() > 0:
            next_token = self._token()
            self._incoming += 1
        held = len(self._held) + 1  # with the one given back
        self._spawn(self._release(token, outcome, retry_after, next_token, held), next_token)

    # -- closing ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Give back every slot still held, wait (a bounded time) for releases under way,
        stop the poller and the lease renewal, and close the client made from a URL."""
        if self._closed:
            return
        self._closed = True
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_result(None)
        self._waiters.clear()
        for task in (self._poller, self._renewer):
            if task is not None:
                task.cancel()
        tokens = list(self._held)
        self._held.clear()
        if self._loop is not None:
            with contextlib.suppress(*_UNREACHABLE):
                async with asyncio.timeout(self._close_timeout):
                    await self._script(_FORGET, [self._id, self._wait_ttl_ms, *tokens])
        pending = [t for t in (self._poller, self._renewer, *self._tasks) if t is not None]
        if pending:
            _done, late = await asyncio.wait(pending, timeout=self._close_timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        if self._waker is not None:
            waker, self._waker = self._waker, None
            with contextlib.suppress(*_UNREACHABLE):
                await waker.aclose()
        if self._url is not None and self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(*_UNREACHABLE):
                await client.aclose()

    async def __aenter__(self) -> RedisThrottle:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- Redis --------------------------------------------------------------------------

    def _bind(self) -> None:
        """Tie the throttle to the running loop (a client belongs to one loop)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        if self._loop is not None and (self._held or self._waiters or self._tasks):
            raise RuntimeError(f"{self!r} is in use in another event loop")
        self._loop = loop
        self._scripts.clear()
        self._waker = None  # its connection belongs to the other loop
        if self._url is not None:
            self._client = aioredis.Redis.from_url(
                self._url,
                socket_connect_timeout=1.0,
                socket_timeout=self._call_timeout,
                retry=Retry(NoBackoff(), 0),  # the throttle retries, bounded by max_wait
            )

    async def _script(self, lua: str, args: list[Any]) -> list[Any]:
        script = self._scripts.get(lua)
        if script is None:
            if self._client is None:
                raise RedisConnectionError("the throttle is closed")
            script = self._scripts[lua] = self._client.register_script(lua)
        argv = ["1" if self.mode == "adaptive" else "0", self.max_limit, *args]
        reply: list[Any] = await script(keys=self._keys, args=argv)
        self._absorb(reply)
        return reply

    def _absorb(self, reply: list[Any]) -> None:
        """Learn the shared state from a script's reply."""
        self._limit = float(reply[1]) if self.mode == "adaptive" else float(self.max_limit)
        self._rate_limited = int(reply[2])
        paused = int(reply[3]) / 1000
        if paused > 0:
            self._paused_until = max(self._paused_until, time.monotonic() + paused)

    def _token(self) -> str:
        return f"{self._id}:{next(self._tokens)}"

    def _redact(self, error: BaseException) -> str:
        return self._redactor(f"{type(error).__name__}: {error}")

    # -- acquiring ----------------------------------------------------------------------

    def _refuse(self) -> None:
        self._refused += 1

    async def _direct(self, deadline: float) -> RedisPermit | None:
        """One ask, for a caller with nobody queued ahead of it in this process."""
        token = self._token()
        try:
            # At least a short round trip, even for max_wait=0.
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.1)):
                reply = await self._script(
                    _ACQUIRE, [self._lease_ms, self._id, self._wait_ttl_ms, token]
                )
        except _UNREACHABLE as error:
            if isinstance(error, _ANSWER_LOST):
                self._abandon([token])  # it may have been granted before the answer was lost
            log.debug("%s: Redis not reached (%s)", self.key, self._redact(error))
            return None
        except asyncio.CancelledError:
            self._abandon([token])
            raise
        if reply[0] >= 1:
            return self._grant(token, "direct")
        return None

    def _grant(self, token: str, how: str) -> RedisPermit:
        self.grants[how] += 1
        permit = RedisPermit(started=time.monotonic(), token=token)
        self._held[token] = permit
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_loop())
        return permit

    async def _queue(self, deadline: float) -> RedisPermit | None:
        """Wait in line for a slot the poller or a handoff gives, until ``deadline``."""
        future: asyncio.Future[RedisPermit | None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(future, deadline)
        self._waiters.append(waiter)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll_loop())
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                return await future
        except TimeoutError:
            self._leave(waiter)
            return None
        except asyncio.CancelledError:
            self._leave(waiter)
            raise

    def _leave(self, waiter: _Waiter) -> None:
        if waiter.future.done() and not waiter.future.cancelled():
            permit = waiter.future.result()
            if permit is not None:  # given a slot, then gave up: it passes on
                self._held.pop(permit.token, None)
                self._deliver(permit.token, "handoff")
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def _unserved(self) -> int:
        """Waiters in this process with no slot on its way to them."""
        live = sum(1 for w in self._waiters if not w.future.done())
        return live - self._incoming

    def _deliver(self, token: str, how: str) -> None:
        """A slot granted to this process: to the first waiter in line, else back."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_result(self._grant(token, how))
                return
        self._abandon([token])

    async def _poll_loop(self) -> None:
        """Ask Redis for slots while this process has waiters (one loop per throttle)."""
        backoff = 0.0
        how = "poll"
        while True:
            while self._waiters and self._waiters[0].future.done():
                self._waiters.popleft()
            if not self._waiters or self._closed:
                return
            now = time.monotonic()
            if self._paused_until > now:
                # Waiters whose deadline comes first are refused now, not at the deadline.
                for waiter in self._waiters:
                    if waiter.deadline < self._paused_until and not waiter.future.done():
                        waiter.future.set_result(None)
                self._waiters = collections.deque(w for w in self._waiters if not w.future.done())
                if self._waiters:
                    await asyncio.sleep(self._paused_until - now)
                continue
            wanted = self._unserved()
            if wanted > 0:
                tokens = [self._token() for _ in range(wanted)]
                try:
                    async with asyncio.timeout(self._call_timeout):
                        reply = await self._script(
                            _ACQUIRE, [self._lease_ms, self._id, self._wait_ttl_ms, *tokens]
                        )
                except _UNREACHABLE as error:
                    if isinstance(error, _ANSWER_LOST):
                        self._abandon(tokens)
                    log.debug("%s: Redis not reached (%s)", self.key, self._redact(error))
                    backoff = min(0.25, max(0.01, backoff * 2))
                    await self._nap(backoff)
                    continue
                except asyncio.CancelledError:
                    self._abandon(tokens)
                    raise
                backoff = 0.0
                for token in tokens[: int(reply[0])]:
                    self._deliver(token, how)
                if int(reply[0]) == wanted or int(reply[3]) > 0:
                    continue
            try:
                how = "wake" if await self._await_wake() else "poll"
            except _UNREACHABLE as error:
                log.debug("%s: Redis not reached (%s)", self.key, self._redact(error))
                backoff = min(0.25, max(0.01, backoff * 2))
                await self._nap(backoff)
                how = "poll"

    async def _await_wake(self) -> bool:
        """Block until a wake token comes (True) or about ``poll`` seconds pass, never past
        the first waiter's deadline. A token is pushed by a script that left a slot free
        while this process waits; the timeout is the fallback for a lost token, a lease
        that ran out, or a limit that grew."""
        first = min((w.deadline for w in self._waiters), default=math.inf)
        wait = min(self.poll * random.uniform(0.5, 1.5), first - time.monotonic())
        if wait < _SHORTEST_BLOCK:  # BLPOP counts whole ms, and 0 would block for ever
            await asyncio.sleep(max(0.0005, wait))
            return False
        if self._waker is None:
            self._waker = self._wake_client()
        # Redis ends the BLPOP itself; this bounds a call to a Redis that stopped answering.
        async with asyncio.timeout(wait + self._call_timeout):
            woken = await self._waker.blpop([self._keys[3]], timeout=wait)
        return woken is not None

    def _wake_client(self) -> aioredis.Redis:
        """A client of one connection of its own: a blocked BLPOP holds its connection."""
        if self._client is None:
            raise RedisConnectionError("the throttle is closed")
        pool = self._client.connection_pool
        options = {**pool.connection_kwargs, "socket_timeout": None}  # BLPOP outlasts it
        return aioredis.Redis.from_pool(
            aioredis.ConnectionPool(
                connection_class=pool.connection_class, max_connections=1, **options
            )
        )

    async def _nap(self, seconds: float) -> None:
        """Sleep about ``seconds`` (with jitter), never past the first waiter's deadline."""
        first = min((w.deadline for w in self._waiters), default=math.inf)
        pause = seconds * random.uniform(0.5, 1.5)
        await asyncio.sleep(max(0.0005, min(pause, first - time.monotonic())))

    # -- in the background --------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None], next_token: str = "") -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            work.close()
            if next_token:
                self._incoming -= 1
            log.warning(
                "%s: a slot was released outside an event loop; it comes back when its "
                "lease ends (in at most %g s)",
                self.key,
                self.lease,
            )
            return
        task = loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(
        self,
        token: str,
        outcome: SendOutcome,
        retry_after: float | None,
        next_token: str,
        held: int,
    ) -> None:
        try:
            async with asyncio.timeout(self._call_timeout):
                reply = await self._script(
                    _RELEASE,
                    [
                        self._lease_ms,
                        self._id,
                        token,
                        outcome,
                        max(0, round((retry_after or 0) * 1000)),
                        round(self._round_trip * 1000),
                        next_token,
                        self._wait_ttl_ms,
                        held,
                    ],
                )
        except _UNREACHABLE as error:
            log.warning(
                "%s: could not give a slot back on Redis (%s); it comes back when its lease "
                "ends (in at most %g s)",
                self.key,
                self._redact(error),
                self.lease,
            )
            return
        finally:
            if next_token:
                self._incoming -= 1
        if int(reply[0]) == 1:
            if self._closed:
                self._abandon([next_token])
            else:
                self._deliver(next_token, "handoff")

    def _abandon(self, tokens: list[str]) -> None:
        """Drop tokens that may hold slots nobody here will use (no lesson learnt)."""
        if not tokens:
            return
        if (self._closed and self._client is None) or len(self._tasks) > 4 * self.max_limit + 16:
            # Closed, or Redis is slow to answer: their leases run out instead.
            log.debug("%s: %d unused lease(s) left to expire", self.key, len(tokens))
            return
        self._spawn(self._forget(tokens))

    async def _forget(self, tokens: list[str]) -> None:
        try:
            async with asyncio.timeout(self._call_timeout):
                await self._script(_FORGET, [self._id, self._wait_ttl_ms, *tokens])
        except _UNREACHABLE as error:
            log.debug("%s: could not drop unused leases (%s)", self.key, self._redact(error))

    async def _renew_loop(self) -> None:
        """Extend the leases this process holds every lease / 3, while it holds any."""
        while self._held and not self._closed:
            await asyncio.sleep(self.lease / 3)
            tokens = list(self._held)
            if not tokens:
                return
            try:
                async with asyncio.timeout(self._call_timeout):
                    reply = await self._script(_RENEW, [self._lease_ms, *tokens])
            except _UNREACHABLE as error:
                log.warning(
                    "%s: could not renew %d lease(s) on Redis (%s); trying again in %g s",
                    self.key,
                    len(tokens),
                    self._redact(error),
                    self.lease / 3,
                )
                continue
            lost = sum(1 for token in tokens if token in self._held) - int(reply[0])
            if lost > 0:
                log.warning(
                    "%s: %d slot(s) held here had lost their lease (Redis restarted, or "
                    "this process stalled longer than %g s)",
                    self.key,
                    lost,
                    self.lease,
                )
