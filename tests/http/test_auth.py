"""The auth step: one renewal at a time, its failure shared, bounded; the token endpoint."""

import asyncio

import pytest
from aiohttp import web

from unigroups import AuthenticationError, TransportError
from unigroups.http import (
    Credentials,
    Redactor,
    RefreshingToken,
    RetryPolicy,
    Sender,
    TokenAuth,
    TokenGrant,
    Transport,
    refresh_token_grant,
)

from .conftest import Recorder, Waits, parse, reply

Server = tuple[Recorder, str]


class Endpoint:
    """A token endpoint as a function: counts calls, then fails, hangs or grants."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self) -> TokenGrant:
        self.calls += 1
        if self.mode == "hang":
            await asyncio.Event().wait()  # never set
        await self.release.wait()
        if self.mode == "fail":
            raise AuthenticationError("the refresh token was revoked", backend="t")
        return TokenGrant(f"token-{self.calls}", expires_in=3600)


async def test_fifty_waiters_share_one_failed_renewal() -> None:
    endpoint = Endpoint("fail")
    token = RefreshingToken(endpoint)  # no token yet: the first use renews
    waiters = [asyncio.create_task(token.current()) for _ in range(50)]
    await asyncio.sleep(0)
    endpoint.release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert endpoint.calls == 1
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert {str(r) for r in results} == {"[t] the refresh token was revoked"}
    # A later call asks again: a failure is shared by its waiters, not remembered for ever.
    endpoint.mode = "grant"
    assert (await token.current()).access_token == "token-2"


async def test_fifty_waiters_share_one_successful_renewal() -> None:
    endpoint = Endpoint("grant")
    token = RefreshingToken(endpoint)
    waiters = [asyncio.create_task(token.current()) for _ in range(50)]
    await asyncio.sleep(0)
    endpoint.release.set()
    grants = await asyncio.gather(*waiters)
    assert endpoint.calls == 1 and token.renewals == 1
    assert {g.access_token for g in grants} == {"token-1"}


async def test_a_token_endpoint_that_hangs_fails_every_waiter_within_the_timeout() -> None:
    endpoint = Endpoint("hang")
    token = RefreshingToken(endpoint, timeout=0.1)
    results = await asyncio.gather(*(token.current() for _ in range(20)), return_exceptions=True)
    assert endpoint.calls == 1
    assert all(isinstance(r, TransportError) for r in results)
    assert "did not answer within 0.1 s" in str(results[0])


async def test_a_waiter_that_gives_up_does_not_cancel_the_renewal_for_the_others() -> None:
    endpoint = Endpoint("grant")
    token = RefreshingToken(endpoint)
    impatient = asyncio.create_task(token.current())
    patient = asyncio.create_task(token.current())
    await asyncio.sleep(0)
    impatient.cancel()
    endpoint.release.set()
    assert (await patient).access_token == "token-1"
    assert endpoint.calls == 1


async def test_fifty_requests_that_all_get_401_renew_once(server: Server) -> None:
    """Through the pipeline: a 401 renews the token once for every request that met it, and
    the renewal's resend counts as a send of the request."""
    recorder, url = server

    async def by_token(request: web.Request) -> web.StreamResponse:
        if request.headers["Authorization"] == "Bearer token-1":
            return web.json_response({"ok": True})
        return web.json_response({"message": "expired"}, status=401)

    recorder.answers = [by_token]
    endpoint = Endpoint("grant")
    endpoint.release.set()
    token = RefreshingToken(endpoint, token="token-0")
    t = Transport(
        backend="t",
        base_url=url,
        parse_error=parse,
        auth=TokenAuth("Bearer", token),
        policy=RetryPolicy(attempts=2),
        sleep=Waits(),
    )
    replies = await asyncio.gather(*(t.request("GET", "/x") for _ in range(50)))
    await t.aclose()
    assert endpoint.calls == 1
    assert {r.attempts for r in replies} == {2}
    assert len(recorder.seen) == 100


async def test_a_renewal_resend_counts_against_the_attempts(server: Server) -> None:
    recorder, url = server
    recorder.answers = [reply(401, {"message": "expired"})]
    endpoint = Endpoint("grant")
    endpoint.release.set()
    t = Transport(
        backend="t",
        base_url=url,
        parse_error=parse,
        auth=TokenAuth("Bearer", RefreshingToken(endpoint, token="token-0")),
        policy=RetryPolicy(attempts=1),
    )
    with pytest.raises(AuthenticationError) as info:
        await t.request("GET", "/x")
    await t.aclose()
    assert (len(recorder.seen), endpoint.calls, info.value.attempts) == (1, 0, 1)


async def test_the_grant_names_the_base_url_requests_go_to(server: Server) -> None:
    recorder, url = server
    recorder.answers = [reply(200, {})]

    async def grant() -> TokenGrant:
        return TokenGrant("token-1", base_url=f"{url}/moved")

    t = Transport(
        backend="t",
        base_url="http://127.0.0.1:9",  # nobody listens: only the grant's base works
        parse_error=parse,
        auth=TokenAuth("Bearer", RefreshingToken(grant)),
    )
    await t.request("GET", "/x")
    await t.aclose()
    assert recorder.seen[0][1] == "/moved/x"
    credentials = await t.auth.credentials()  # type: ignore[union-attr]
    assert credentials == Credentials({"Authorization": "Bearer token-1"}, f"{url}/moved")


CLIENT_SECRET = "cs-very-secret-42"
REFRESH = "rt-very-secret-43"


@pytest.mark.parametrize("status", [200, 400])
async def test_the_token_endpoints_refusal_is_shown_without_secrets(
    server: Server, status: int
) -> None:
    recorder, url = server
    said = {
        "error": f"invalid_client {CLIENT_SECRET}",
        "error_description": f"refresh token {REFRESH} is not valid for {CLIENT_SECRET}",
    }
    recorder.answers = [reply(status, said)]
    sender = Sender(backend="t")
    with pytest.raises(AuthenticationError) as info:
        await refresh_token_grant(
            sender,
            f"{url}/oauth/v2/token",
            client_id="id-1",
            client_secret=CLIENT_SECRET,
            refresh_token=REFRESH,
            redact=Redactor(lambda: (CLIENT_SECRET, REFRESH)),
        )
    await sender.aclose()
    shown = f"{info.value} {info.value!r} {info.value.code}"
    assert CLIENT_SECRET not in shown and REFRESH not in shown
    assert "invalid_client ***" in str(info.value)
    assert "refresh token *** is not valid" in str(info.value)
    assert len(recorder.seen) == 1  # a refusal is not asked again
    form = recorder.seen[0][3].decode()
    assert "grant_type=refresh_token" in form
