"""The request pipeline against real HTTP servers on 127.0.0.1: exact sends, bounded waits."""

import asyncio
import json
import logging
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from unigroups import (
    AuthenticationError,
    DecodingError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from unigroups.http import (
    USER_AGENT,
    FixedThrottle,
    Request,
    Timeouts,
    Transport,
    TransportOptions,
    pages,
)
from unigroups.testing.server import serve

from .conftest import SECRET, Recorder, Waits, drop, parse, reply, transport

Server = tuple[Recorder, str]


async def test_get_is_sent_again_on_503_and_502_then_succeeds(server: Server) -> None:
    recorder, url = server
    recorder.answers = [reply(503), reply(502), reply(200, {"ok": True})]
    waits = Waits()
    t = transport(url, waits)
    answer = await t.send(Request("GET", "/x"))
    await t.aclose()
    assert (answer.data, answer.attempts) == ({"ok": True}, 3)
    assert len(recorder.seen) == 3
    assert t.stats.retries == 2 and t.stats.requests == 3
    # full jitter: each wait is drawn from [0, 0.25 * 2**n]
    assert len(waits.seconds) == 2 and waits.seconds[0] <= 0.25 and waits.seconds[1] <= 0.5


@pytest.mark.parametrize("attempts", [1, 2, 5])
async def test_a_request_is_sent_at_most_attempts_times(server: Server, attempts: int) -> None:
    recorder, url = server
    recorder.answers = [reply(503, {"message": "down", "code": "UNAVAILABLE"})]
    t = transport(url, attempts=attempts)
    with pytest.raises(ServerError) as info:
        await t.request("PUT", "/x", body={})
    await t.aclose()
    assert len(recorder.seen) == attempts
    assert (info.value.status, info.value.code, info.value.attempts) == (
        503,
        "UNAVAILABLE",
        attempts,
    )


async def test_a_post_is_not_replayed_on_503(server: Server) -> None:
    recorder, url = server
    recorder.answers = [reply(503)]
    t = transport(url)
    with pytest.raises(ServerError):
        await t.request("POST", "/x", body={"a": 1})
    await t.aclose()
    assert len(recorder.seen) == 1


async def test_a_post_marked_replay_safe_is_replayed(server: Server) -> None:
    recorder, url = server
    recorder.answers = [reply(503), reply(200, {})]
    t = transport(url)
    await t.send(Request("POST", "/search", body={}, replay_safe=True))
    await t.aclose()
    assert len(recorder.seen) == 2


async def test_a_post_is_sent_again_on_429_after_the_retry_after(server: Server) -> None:
    recorder, url = server
    recorder.answers = [reply(429, {}, {"Retry-After": "7"}), reply(201, {"id": "1"})]
    waits = Waits()
    t = transport(url, waits)
    answer = await t.request("POST", "/x", body={"a": 1})
    await t.aclose()
    assert answer.status == 201
    assert len(recorder.seen) == 2
    assert waits.seconds == [7.0]
    assert t.stats.rate_limited == 1 and t.throttle.stats.rate_limited == 1


async def test_429_to_the_end_is_rate_limited_error_with_retry_after(server: Server) -> None:
    recorder, url = server
    recorder.answers = [reply(429, {"message": "slow down"}, {"Retry-After": "2"})]
    t = transport(url, attempts=2)
    with pytest.raises(RateLimitedError) as info:
        await t.request("GET", "/x")
    await t.aclose()
    assert (info.value.retry_after, info.value.attempts) == (2.0, 2)
    assert len(recorder.seen) == 2


@pytest.mark.parametrize(
    ("header", "retry_after"),
    [
        ("1000000000", 1e9),
        ("1e400", 1e9),
        ("121", 121.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", None),  # a date: seconds from now, far past 120
    ],
)
async def test_a_retry_after_past_max_wait_ends_the_request_at_once(
    server: Server, header: str, retry_after: float | None
) -> None:
    recorder, url = server
    recorder.answers = [reply(429, {"message": "later"}, {"Retry-After": header})]
    waits = Waits()
    t = transport(url, waits, max_wait=120)
    with pytest.raises(RateLimitedError) as info:
        await t.request("GET", "/x")
    assert len(recorder.seen) == 1
    assert waits.seconds == []  # nothing waited
    assert info.value.retry_after is not None and info.value.retry_after > 120
    if retry_after is not None:
        assert info.value.retry_after == retry_after
    # The throttle holds the pause: the next request fails at once, and is never sent.
    with pytest.raises(RateLimitedError, match="max_wait") as second:
        await t.request("GET", "/y")
    await t.aclose()
    assert len(recorder.seen) == 1
    assert second.value.retry_after is not None and second.value.retry_after > 120


@pytest.mark.parametrize("header", ["-5", "nan", "soon", "", "1e-400"])
async def test_a_retry_after_that_says_nothing_usable_gives_the_backoff(
    server: Server, header: str
) -> None:
    recorder, url = server
    recorder.answers = [reply(429, {}, {"Retry-After": header}), reply(200, {})]
    waits = Waits()
    t = transport(url, waits)
    await t.request("GET", "/x")
    await t.aclose()
    assert len(recorder.seen) == 2
    assert len(waits.seconds) == 1 and 0 <= waits.seconds[0] <= 0.25


async def test_a_5xx_asking_for_longer_than_max_wait_ends_with_its_own_error(
    server: Server,
) -> None:
    recorder, url = server
    recorder.answers = [reply(503, {}, {"Retry-After": "3600"}), reply(200, {})]
    waits = Waits()
    t = transport(url, waits, max_wait=5)
    with pytest.raises(ServerError):
        await t.request("GET", "/x")
    await t.aclose()
    assert (len(recorder.seen), waits.seconds) == (1, [])


async def test_every_backoff_is_capped_by_max_wait(server: Server) -> None:
    recorder, url = server
    recorder.answers = [reply(503)]
    waits = Waits()
    t = transport(url, waits, attempts=12, max_wait=0.3)
    with pytest.raises(ServerError):
        await t.request("GET", "/x")
    await t.aclose()
    assert len(waits.seconds) == 11 and max(waits.seconds) <= 0.3


async def test_a_post_whose_body_reached_the_server_is_not_replayed_after_a_drop(
    server: Server,
) -> None:
    recorder, url = server
    recorder.answers = [drop]
    t = transport(url)
    with pytest.raises(TransportError) as info:
        await t.request("POST", "/x", body={"name": "g"})
    await t.aclose()
    assert len(recorder.seen) == 1, "a POST that reached the server was sent again"
    assert info.value.request_sent is True
    assert "may or may not" in str(info.value) and "127.0.0.1" in str(info.value)


@pytest.mark.parametrize("attempts", [1, 3])
async def test_a_dropped_get_is_sent_exactly_attempts_times(server: Server, attempts: int) -> None:
    """aiohttp resends an idempotent request once by itself when a connection drops; the
    pipeline turns that off, so the server sees exactly the policy's sends."""
    recorder, url = server
    recorder.answers = [drop]
    t = transport(url, attempts=attempts)
    with pytest.raises(TransportError):
        await t.request("GET", "/x")
    await t.aclose()
    assert len(recorder.seen) == attempts


async def test_a_get_is_replayed_after_a_drop(server: Server) -> None:
    recorder, url = server
    recorder.answers = [drop, reply(200, {"ok": 1})]
    t = transport(url)
    assert (await t.request("GET", "/x")).data == {"ok": 1}
    await t.aclose()
    assert len(recorder.seen) == 2


async def test_a_refused_connection_is_retried_for_a_post_and_named() -> None:
    # a port nobody listens on: the request provably never reached a server
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits = Waits()
    t = transport(f"http://127.0.0.1:{port}", waits, attempts=3)
    with pytest.raises(TransportError) as info:
        await t.request("POST", "/x", body={})
    await t.aclose()
    assert info.value.request_sent is False
    assert len(waits.seconds) == 2, "POST was not retried although nothing was sent"
    message = str(info.value)
    assert f"cannot connect to 127.0.0.1:{port}" in message
    assert "refused" in message.lower()
    assert "ClientConnectorError" not in message


async def test_a_slow_answer_fails_on_the_read_timeout(server: Server) -> None:
    recorder, url = server
    gate = asyncio.Event()

    async def slow(_request: web.Request) -> web.StreamResponse:
        await gate.wait()
        return web.Response(text="{}")

    recorder.answers = [slow]
    t = transport(url, attempts=1, timeouts=Timeouts(read=0.2, total=30))
    with pytest.raises(TransportError, match=r"no data for 0\.2 s") as info:
        await t.request("GET", "/x")
    gate.set()
    await t.aclose()
    assert info.value.request_sent is True


async def test_an_answer_that_never_ends_fails_on_the_total_timeout(server: Server) -> None:
    recorder, url = server

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        while True:  # a byte every 50 ms: the read timeout never fires, the total one does
            await response.write(b" ")
            await asyncio.sleep(0.05)

    recorder.answers = [trickle]
    t = transport(url, attempts=1, timeouts=Timeouts(read=1, total=0.3))
    with pytest.raises(TransportError, match=r"no complete answer within 0\.3 s"):
        await t.request("GET", "/x")
    await t.aclose()


@pytest.mark.parametrize(
    "body", ["<html><body>Service Unavailable</body></html>", "x" * 5000, "Access Denied"]
)
async def test_an_answer_that_is_not_json_is_a_decoding_error_keeping_2kb(
    server: Server, body: str
) -> None:
    recorder, url = server
    recorder.answers = [reply(200, body)]
    t = transport(url)
    with pytest.raises(DecodingError) as info:
        await t.request("GET", "/x")
    await t.aclose()
    assert info.value.status == 200
    assert info.value.raw == body[:2048]
    assert len(recorder.seen) == 1  # an answer that is not JSON is not asked for again


async def test_a_body_over_the_cap_is_refused_without_reading_it(server: Server) -> None:
    recorder, url = server

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no length announced
        await response.prepare(request)
        while True:  # a server that never stops sending
            await response.write(b"[" * 65536)

    recorder.answers = [endless]
    t = transport(url, max_body=1 << 20)
    with pytest.raises(DecodingError, match="larger than max_body") as info:
        await t.request("GET", "/x")
    await t.aclose()
    assert len(recorder.seen) == 1
    assert (info.value.status, info.value.attempts) == (200, 1)


async def test_a_body_announced_over_the_cap_is_refused(server: Server) -> None:
    recorder, url = server
    recorder.answers = [reply(200, "[" + "0," * 600_000 + "0]")]
    t = transport(url, max_body=1 << 20)
    with pytest.raises(DecodingError, match="bytes announced"):
        await t.request("GET", "/x")
    await t.aclose()


async def test_redirects_are_not_followed_so_credentials_stay_home(server: Server) -> None:
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


async def test_the_throttle_caps_requests_in_flight(server: Server) -> None:
    recorder, url = server

    async def slowish(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.02)
        return web.Response(text="{}")

    recorder.answers = [slowish]
    t = transport(url, throttle=FixedThrottle(3))
    await asyncio.gather(*(t.request("GET", "/x") for _ in range(12)))
    await t.aclose()
    assert recorder.peak == 3
    assert t.throttle.stats.waits > 0 and t.throttle.stats.in_flight == 0


async def test_a_borrowed_session_is_never_closed(server: Server) -> None:
    recorder, url = server
    recorder.answers = [reply(200, {})]
    async with aiohttp.ClientSession() as session:
        options = TransportOptions(session=session)
        t = options.make_transport(
            backend="t", base_url=url, parse_error=parse, auth=lambda _sender: None
        )
        await t.request("GET", "/x")
        await t.aclose()
        assert not session.closed
    owned = transport(url)
    await owned.request("GET", "/x")
    own_session = owned.sender.session
    await owned.aclose()
    assert own_session.closed


async def test_401_with_fixed_credentials_is_an_authentication_error_without_the_secret(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    recorder, url = server

    async def echo(request: web.Request) -> web.StreamResponse:
        # a hostile or careless vendor echoing the credentials back, its code included
        token = request.headers["Authorization"]
        text = json.dumps({"message": f"bad token {token}", "code": token.split()[1]})
        return web.Response(status=401, text=text)

    recorder.answers = [echo]
    caplog.set_level(logging.DEBUG, logger="unigroups")
    t = transport(url)
    with pytest.raises(AuthenticationError) as info:
        await t.request("GET", "/x")
    await t.aclose()
    assert len(recorder.seen) == 1
    shown = [str(info.value), repr(info.value), json.dumps(info.value.raw), repr(t)]
    shown += [str(info.value.code), *(r.getMessage() for r in caplog.records)]
    assert not [text for text in shown if SECRET in text]
    assert info.value.code == "***"


async def test_the_debug_log_has_method_path_status_attempt_elapsed(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    recorder, url = server
    recorder.answers = [reply(503), reply(200, {})]
    caplog.set_level(logging.DEBUG, logger="unigroups.http")
    t = transport(url)
    await t.request("GET", "/groups/1")
    await t.aclose()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "unigroups.http"]
    assert [level for level, _ in lines] == ["DEBUG", "INFO", "DEBUG"]
    assert lines[0][1].startswith("GET /groups/1 -> 503 attempt=1 elapsed=")
    # The resend, and why: at INFO (-v on the command line).
    assert re.fullmatch(
        r"test: GET /groups/1: \[test HTTP 503\] HTTP 503; waiting [0-9.]+ s, then send 2 of 4",
        lines[1][1],
    ), lines[1][1]
    assert lines[2][1].startswith("GET /groups/1 -> 200 attempt=2 elapsed=")


def _options_transport(url: str, **options: Any) -> Transport:
    return TransportOptions(**options).make_transport(
        backend="t", base_url=url, parse_error=parse, auth=lambda _sender: None
    )


async def test_every_request_names_unigroups_and_its_version(server: Server) -> None:
    recorder, url = server
    recorder.answers = [reply(200, {})]
    t = _options_transport(url)
    await t.request("GET", "/x")
    await t.aclose()
    assert recorder.seen[0][2]["User-Agent"] == USER_AGENT == "unigroups/0.1.0"


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    recorder.answers = [reply(200, {"via": "proxy"})]
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    async with serve(app) as url:
        yield recorder, url


@pytest.mark.parametrize("trust_env", [False, True])
async def test_proxies_from_the_environment_only_with_trust_env(
    server: Server,
    proxy: tuple[Recorder, str],
    monkeypatch: pytest.MonkeyPatch,
    trust_env: bool,
) -> None:
    recorder, url = server
    recorder.answers = [reply(200, {"via": "direct"})]
    proxied, proxy_url = proxy
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    t = _options_transport(url, trust_env=trust_env)
    answer = await t.request("GET", "/x")
    await t.aclose()
    assert answer.data == {"via": "proxy" if trust_env else "direct"}
    assert len(proxied.seen) == (1 if trust_env else 0)


def test_the_options_build_split_timeouts() -> None:
    sender = TransportOptions(timeout=20, connect_timeout=3, read_timeout=7).make_sender("t")
    assert sender.timeouts == Timeouts(connect=3, read=7, total=20)
    # A connect timeout longer than the total is held to the total.
    assert TransportOptions(timeout=2).make_sender("t").timeouts.connect == 2


async def test_a_listing_whose_pages_repeat_ends_with_a_transport_error() -> None:
    fetched: list[int] = []

    async def fetch(page: int) -> tuple[list[str], bool]:
        fetched.append(page)
        return ["a", "b"], True  # the same page, and "more follow", for ever

    with pytest.raises(TransportError, match="page 2 repeats page 1"):
        async for _ in pages(fetch, backend="t", max_pages=1000):
            pass
    assert fetched == [1, 2]


async def test_a_listing_past_the_page_cap_ends_with_a_transport_error() -> None:
    async def fetch(page: int) -> tuple[list[int], bool]:
        return [page], True

    seen: list[list[int]] = []
    with pytest.raises(TransportError, match="more than 5 pages"):
        async for items in pages(fetch, backend="t", max_pages=5):
            seen.append(items)
    assert seen == [[1], [2], [3], [4], [5]]


async def test_a_listing_ends_on_a_short_page_an_empty_page_or_an_error_and_stays_ended() -> None:
    answers: dict[int, tuple[list[int], bool]] = {1: ([1], True), 2: ([], True)}

    async def fetch(page: int) -> tuple[list[int], bool]:
        return answers[page]

    listing = pages(fetch, backend="t", max_pages=10)
    assert [items async for items in listing] == [[1]]  # an empty page ends it
    assert [items async for items in listing] == []  # and it stays ended: no page 3

    async def broken(page: int) -> tuple[list[int], bool]:
        raise TransportError("down", backend="t")

    failing = pages(broken, backend="t", max_pages=10)
    with pytest.raises(TransportError, match="down"):
        await anext(failing)
    assert [items async for items in failing] == []  # nothing is fetched again
