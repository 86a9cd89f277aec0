"""The test Redis is a real server process: it answers, dies on SIGKILL, and with persistence
comes back with every acknowledged write."""

import os

import pytest
import redis

from unigroups.testing.redis_server import RedisServer, RedisServerError


def test_a_persistent_server_keeps_acknowledged_writes_across_a_kill() -> None:
    with RedisServer(persistent=True) as server:
        client = redis.Redis.from_url(server.url)
        client.set("job", "1")
        pid = server.pid
        server.kill()
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # really gone
        with pytest.raises(redis.ConnectionError):
            client.get("job")
        server.start()
        assert client.get("job") == b"1"
        client.close()


def test_a_binary_that_is_not_there_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIGROUPS_REDIS_SERVER", "/nonexistent/redis-server")
    with pytest.raises(RedisServerError, match="/nonexistent/redis-server is not an executable"):
        RedisServer()
