"""``RetryPolicy``: how often a request may be sent, how long between sends, what to replay."""

from __future__ import annotations

import random

import attrs

from ..options import seconds, whole

__all__ = ["RetryPolicy"]


@attrs.frozen
class RetryPolicy:
    """One retry budget for a request, whoever asks for it.

    ``attempts`` counts every send, the first included: a request is sent at most that many
    times, a resend after a token refresh included. Backoff is exponential with full jitter,
    capped by ``backoff_max``; every wait (backoff, a Retry-After, a paused throttle) is
    capped by ``max_wait``: a longer one ends the request with its error at once.
    """

    attempts: int = attrs.field(default=6, validator=whole(1))
    backoff_base: float = attrs.field(default=0.25, validator=seconds(zero=True))
    backoff_max: float = attrs.field(default=20.0, validator=seconds(zero=True))
    max_wait: float = attrs.field(default=120.0, validator=seconds(zero=True))

    def may_replay(self, replay_safe: bool, acted: bool | None) -> bool:
        """Whether a request may be sent again after a failed send.

        ``acted`` False (the vendor refused without acting, or it never got the request):
        any request. Otherwise only one that is safe to replay: a create sent twice may
        create twice.
        """
        return acted is False or replay_safe

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The wait before send ``attempt + 1`` (``attempt`` from 1), jittered, capped."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** min(attempt - 1, 60))
        return min(self.max_wait, rng.uniform(0, ceiling))

    def wait(self, attempt: int, retry_after: float | None, rng: random.Random) -> float | None:
        """The wait before the next send: the backoff, or the vendor's Retry-After when
        longer. None when the vendor asks for more than ``max_wait``: give up now."""
        wait = self.backoff(attempt, rng)
        if retry_after is not None:
            if retry_after > self.max_wait:
                return None
            wait = max(wait, retry_after)
        return wait
