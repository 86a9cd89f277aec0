"""The shared transport against real HTTP servers on 127.0.0.1."""

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from unigroups import (
    AuthenticationError,
    ConfigurationError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from unigroups.auth import HeaderAuth
from unigroups.http import Transport, TransportPolicy, VendorError, parse_retry_after
from unigroups.testing.server import serve

SECRET = "sk-live-0123456789abcdef"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Recorder:
    """A scripted server: answers come from a queue; every request is counted."""

    def __init__(self) -> None:
        self.answers: list[Handler] = []
        self.seen: list[tuple[str, dict[str, str], bytes]] = []
        self.in_flight = 0
        self.peak = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append((request.method, dict(request.headers), body))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            return await answer(request)
        finally:
            self.in_flight -= 1


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Handler:
    async def answer(_request: web.Request) -> web.StreamResponse:
        text = body if isinstance(body, str) else json.dumps(body if body is not None else {})
        return web.Response(status=status, text=text, headers=headers)

    return answer


async def drop(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    raise asyncio.CancelledError


@pytest.fixture
async def server() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    async with serve(app) as url:
        yield recorder, url


def parse(status: int, body: Any) -> VendorError:
    message = body.get("message", f"HTTP {status}") if isinstance(body, dict) else str(body)
    return VendorError(message=message, code=body.get("code") if isinstance(body, dict) else None)


class Waits:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def transport(url: str, waits: Waits | None = None, **policy: Any) -> Transport:
    return Transport(
        backend="test",
        base_url=url,
        parse_error=parse,
        auth=HeaderAuth({"Authorization": f"Bearer {SECRET}"}, [SECRET]),
        policy=TransportPolicy(**{"retries": 3, **policy}),
        sleep=waits or Waits(),
    )


async def test_get_is_retried_on_503_then_succeeds(server: tuple[Recorder, str]) -> None:
    recorder, url = server
    recorder.answers = [reply(503), reply(502), reply(200, {"ok": True})]
    waits = Waits()
    t = transport(url, waits)
    try:
        answer = await t.request("GET", "/x")
    finally:
        await t.aclose()
    assert answer.data == {"ok": True}
    assert len(recorder.seen) == 3
    assert t.stats["retries"] == 2
    # full jitter: each wait is drawn from [0, base * 2**n]
    assert len(waits.seconds) == 2 and 0 <= waits.seconds[0] <= 0.25 and waits.seconds[1] <= 0.5


async def test_retries_stop_after_the_policy_and_raise_the_vendor_error(
    server: tuple[Recorder, str],
) -> None:
    recorder, url = server
    recorder.answers = [reply(503, {"message": "down", "code": "UNAVAILABLE"})]
    t = transport(url, retries=2)
    with pytest.raises(ServerError) as info:
        await t.request("PUT", "/x", json_body={})
    await t.aclose()
    assert len(recorder.seen) == 3
    assert (info.value.status, info.value.code) == (503, "UNAVAILABLE")


async def test_post_is_not_replayed_on_503(server: tuple[Recorder, str]) -> None:
    recorder, url = server
    recorder.answers = [reply(503)]
    t = transport(url)
    with pytest.raises(ServerError):
        await t.request("POST", "/x", json_body={"a": 1})
    await t.aclose()
    assert len(recorder.seen) == 1


async def test_post_is_retried_on_429_honouring_retry_after(server: tuple[Recorder, str]) -> None:
    recorder, url = server
    recorder.answers = [reply(429, {}, {"Retry-After": "7"}), reply(201, {"id": "1"})]
    waits = Waits()
    t = transport(url, waits)
    answer = await t.request("POST", "/x", json_body={"a": 1})
    await t.aclose()
    assert answer.status == 201
    assert len(recorder.seen) == 2
    assert waits.seconds == [7.0]
    assert t.stats["rate_limited"] == 1


async def test_429_exhausted_is_rate_limited_error_with_retry_after(
    server: tuple[Recorder, str],
) -> None:
    recorder, url = server
    recorder.answers = [reply(429, {"message": "slow down"}, {"Retry-After": "2"})]
    t = transport(url, retries=1)
    with pytest.raises(RateLimitedError) as info:
        await t.request("GET", "/x")
    await t.aclose()
    assert info.value.retry_after == 2.0
    assert len(recorder.seen) == 2


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = time.time()
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= (parse_retry_after(date, now=now) or 0) <= 31
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_retry_after_is_capped_by_the_policy(server: tuple[Recorder, str]) -> None:
    recorder, url = server
    recorder.answers = [reply(503, {}, {"Retry-After": "3600"}), reply(200, {})]
    waits = Waits()
    t = transport(url, waits, max_retry_after=5)
    await t.request("GET", "/x")
    await t.aclose()
    assert waits.seconds == [5]


async def test_post_whose_body_reached_the_server_is_not_replayed_after_a_drop(
    server: tuple[Recorder, str],
) -> None:
    recorder, url = server
    recorder.answers = [drop]
    t = transport(url)
    with pytest.raises(TransportError) as info:
        await t.request("POST", "/x", json_body={"name": "g"})
    await t.aclose()
    assert len(recorder.seen) == 1, "a POST that reached the server was sent again"
    assert info.value.request_sent is True
    assert "may or may not" in str(info.value)


async def test_get_is_replayed_after_a_drop(server: tuple[Recorder, str]) -> None:
    recorder, url = server
    recorder.answers = [drop, reply(200, {"ok": 1})]
    t = transport(url)
    assert (await t.request("GET", "/x")).data == {"ok": 1}
    await t.aclose()
    assert len(recorder.seen) == 2


async def test_post_is_retried_when_the_connection_was_never_made() -> None:
    # a port nobody listens on: the request provably never reached a server
    sock_server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = sock_server.sockets[0].getsockname()[1]
    sock_server.close()
    await sock_server.wait_closed()
    waits = Waits()
    t = transport(f"http://127.0.0.1:{port}", waits, retries=2)
    with pytest.raises(TransportError) as info:
        await t.request("POST", "/x", json_body={})
    await t.aclose()
    assert info.value.request_sent is False
    assert len(waits.seconds) == 2, "POST was not retried although nothing was sent"


async def test_a_slow_answer_times_out(server: tuple[Recorder, str]) -> None:
    recorder, url = server

    async def slow(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(2)
        return web.Response(text="{}")

    recorder.answers = [slow]
    t = transport(url, timeout=0.2, retries=0)
    with pytest.raises(TransportError, match="timed out"):
        await t.request("GET", "/x")
    await t.aclose()


@pytest.mark.parametrize(
    "body", ["<html><body>Service Unavailable</body></html>", "x" * 5000, "Access Denied"]
)
async def test_an_answer_that_is_not_json_is_a_transport_error_keeping_2kb(
    server: tuple[Recorder, str], body: str
) -> None:
    recorder, url = server
    recorder.answers = [reply(200, body)]
    t = transport(url)
    with pytest.raises(TransportError) as info:
        await t.request("GET", "/x")
    await t.aclose()
    assert info.value.status == 200
    assert isinstance(info.value.raw, str) and len(info.value.raw) <= 2048
    assert info.value.raw == body[:2048]


async def test_invalid_utf8_is_a_transport_error(server: tuple[Recorder, str]) -> None:
    recorder, url = server

    async def bad_bytes(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=b'{"a": "\xff\xfe"}', content_type="application/json")

    recorder.answers = [bad_bytes]
    t = transport(url)
    with pytest.raises(TransportError, match="not JSON"):
        await t.request("GET", "/x")
    await t.aclose()


async def test_redirects_are_not_followed_so_credentials_stay_home(
    server: tuple[Recorder, str],
) -> None:
    recorder, url = server
    other = Recorder()
    other.answers = [reply(200, {})]
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", other.handle)
    async with serve(app) as other_url:
        recorder.answers = [reply(302, "", {"Location": f"{other_url}/steal"})]
        t = transport(url)
        with pytest.raises(TransportError, match="redirect"):
            await t.request("GET", "/x")
        await t.aclose()
    assert other.seen == []


async def test_the_concurrency_limit_holds(server: tuple[Recorder, str]) -> None:
    recorder, url = server

    async def slowish(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.02)
        return web.Response(text="{}")

    recorder.answers = [slowish]
    t = transport(url, max_concurrency=3)
    await asyncio.gather(*(t.request("GET", "/x") for _ in range(12)))
    await t.aclose()
    assert recorder.peak == 3


async def test_a_borrowed_session_is_never_closed(server: tuple[Recorder, str]) -> None:
    recorder, url = server
    recorder.answers = [reply(200, {})]
    async with aiohttp.ClientSession() as session:
        t = Transport(backend="t", base_url=url, parse_error=parse, session=session)
        await t.request("GET", "/x")
        await t.aclose()
        assert not session.closed
    owned = transport(url)
    await owned.request("GET", "/x")
    own_session = owned.session
    await owned.aclose()
    assert own_session.closed


async def test_a_session_without_tls_verification_is_refused() -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        with pytest.raises(ConfigurationError, match="TLS"):
            Transport(
                backend="t", base_url="https://crm.example.com", parse_error=parse, session=session
            )


async def test_401_with_fixed_credentials_is_an_authentication_error_without_the_secret(
    server: tuple[Recorder, str], caplog: pytest.LogCaptureFixture
) -> None:
    recorder, url = server

    async def echo(request: web.Request) -> web.StreamResponse:
        # a hostile or careless vendor echoing the credentials back in its error body
        text = json.dumps({"message": f"bad token {request.headers['Authorization']}"})
        return web.Response(status=401, text=text)

    recorder.answers = [echo]
    caplog.set_level(logging.DEBUG, logger="unigroups")
    t = transport(url)
    with pytest.raises(AuthenticationError) as info:
        await t.request("GET", "/x")
    await t.aclose()
    assert len(recorder.seen) == 1
    shown = [str(info.value), repr(info.value), json.dumps(info.value.raw), repr(t)]
    shown += [r.getMessage() for r in caplog.records]
    assert not [text for text in shown if SECRET in text]
    assert "***" in str(info.value)


async def test_debug_log_has_method_path_status_attempt_elapsed(
    server: tuple[Recorder, str], caplog: pytest.LogCaptureFixture
) -> None:
    recorder, url = server
    recorder.answers = [reply(503), reply(200, {})]
    caplog.set_level(logging.DEBUG, logger="unigroups.http")
    t = transport(url)
    await t.request("GET", "/groups/1")
    await t.aclose()
    lines = [r.getMessage() for r in caplog.records if r.name == "unigroups.http"]
    assert lines[0].startswith("GET /groups/1 -> 503 attempt=1 elapsed=")
    assert lines[1].startswith("GET /groups/1 -> 200 attempt=2 elapsed=")
