"""A real redis-server process per test (never a fake): see unigroups.testing.redis_server."""

from collections.abc import Iterator

import pytest

from unigroups.testing.redis_server import RedisServer


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url
