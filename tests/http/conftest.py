"""A scripted HTTP server on 127.0.0.1 and a transport factory for the pipeline's tests."""

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from unigroups.http import (
    FixedThrottle,
    HeaderAuth,
    RetryPolicy,
    Sender,
    Timeouts,
    Transport,
    VendorError,
)
from unigroups.testing.server import serve

from ..fake_time import Waits

__all__ = ["SECRET", "Recorder", "Waits", "drop", "parse", "reply", "transport"]

SECRET = "sk-live-0123456789abcdef"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Recorder:
    """A scripted server: answers come from a queue (the last one repeats); every request
    is kept."""

    def __init__(self) -> None:
        self.answers: list[Handler] = []
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.in_flight = 0
        self.peak = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append((request.method, request.path_qs, dict(request.headers), body))
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
    """Close the connection after reading the request: its fate is unknown to the client."""
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


def transport(
    url: str,
    waits: Waits | None = None,
    *,
    attempts: int = 4,
    max_wait: float = 120.0,
    throttle: Any = None,
    timeouts: Timeouts | None = None,
    max_body: int = 1 << 20,
) -> Transport:
    waits = waits or Waits()
    return Transport(
        backend="test",
        base_url=url,
        parse_error=parse,
        sender=Sender(backend="test", timeouts=timeouts, max_body=max_body),
        auth=HeaderAuth({"Authorization": f"Bearer {SECRET}"}, [SECRET]),
        policy=RetryPolicy(attempts=attempts, max_wait=max_wait),
        # The throttle keeps the transport's time: a Retry-After pause ends as its wait does.
        throttle=throttle or FixedThrottle(10, clock=waits.now, sleep=waits),
        sleep=waits,
        rng=random.Random(7),
    )
