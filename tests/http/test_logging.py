"""What the pipeline logs on ``unigroups.*``: renewals, throttle changes; never a secret."""

import logging

import pytest

from unigroups.http import AdaptiveThrottle
from unigroups.http.auth import RefreshingToken, TokenGrant


async def test_a_token_renewal_is_logged_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fetch() -> TokenGrant:
        return TokenGrant("new-secret-token", expires_in=3600)

    token = RefreshingToken(fetch, token="old-secret-token")
    with caplog.at_level(logging.INFO, logger="unigroups"):
        await token.renew("old-secret-token")
    assert [r.getMessage() for r in caplog.records] == [
        "renewing the access token (renewal 1)",
        "access token renewed; good for 3600 s",
    ]
    assert {r.name for r in caplog.records} == {"unigroups.http.auth"}
    assert "secret" not in caplog.text


async def test_a_429_that_lowers_the_limit_and_pauses_sends_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    throttle = AdaptiveThrottle(8)
    permit = await throttle.acquire(max_wait=1)
    assert permit is not None
    with caplog.at_level(logging.INFO, logger="unigroups.http.throttle"):
        throttle.release(permit, "rate_limited", retry_after=2.0)
    assert [r.getMessage() for r in caplog.records] == [
        "holding new sends back for 2.00 s (Retry-After)",
        "limit 8 -> 6 requests in flight",
    ]
