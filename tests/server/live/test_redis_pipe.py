"""The pipelined connection: replies reach their callers in order whatever the others do."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from server.live.redis_pipe import PipeScript, RedisPipe, pipe_supports
from tests.fakes.tcp_relay import Relay

Harness = Any  # tests/server/live/conftest.py, reached through the ``redis_engine`` fixture
REDIS_URL = os.environ.get("STUDYROOM_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def pipe(redis_engine: Harness) -> AsyncIterator[RedisPipe]:
    pipe = RedisPipe(REDIS_URL)
    yield pipe
    pipe.close()


def key() -> str:
    return f"pipe-test:{uuid.uuid4().hex}"


async def test_concurrent_commands_each_get_their_own_reply(pipe: RedisPipe) -> None:
    keys = [key() for _ in range(200)]
    await asyncio.gather(*(pipe.execute("SET", k, n) for n, k in enumerate(keys)))

    values = await asyncio.gather(*(pipe.execute("GET", k) for k in keys))

    assert values == [str(n) for n in range(200)]
    await pipe.execute("DEL", *keys)


async def test_a_cancelled_command_does_not_shift_the_replies_after_it(pipe: RedisPipe) -> None:
    slow = asyncio.create_task(pipe.execute("BLPOP", key(), "0.3"))
    await asyncio.sleep(0.05)
    slow.cancel()

    # Written behind the blocked command: answered after it, and with its own reply.
    assert await pipe.execute("ECHO", "mine") == "mine"
    assert await pipe.execute("PING") == "PONG"


async def test_error_replies_raise_and_the_connection_goes_on(pipe: RedisPipe) -> None:
    with pytest.raises(ResponseError, match="unknown command"):
        await pipe.execute("NO-SUCH-COMMAND")
    assert await pipe.execute("PING") == "PONG"


async def test_a_script_redis_forgot_is_loaded_again(pipe: RedisPipe) -> None:
    script = PipeScript(pipe, f"return {{KEYS[1], ARGV[1], '{uuid.uuid4().hex}'}}")
    first = await script(keys=["k"], args=["a"])
    await pipe.execute("SCRIPT", "FLUSH")

    again = await script(keys=["k"], args=["b"])

    assert first[:2] == ["k", "a"]
    assert again[:2] == ["k", "b"]


async def test_a_lost_connection_fails_its_waiters_and_the_next_command_reconnects(
    redis_engine: Harness,
) -> None:
    parts = urlsplit(REDIS_URL)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 6379))
    await relay.start()
    pipe = RedisPipe(f"redis://127.0.0.1:{relay.port}{parts.path}")
    try:
        assert await pipe.execute("PING") == "PONG"
        waiting = asyncio.create_task(pipe.execute("BLPOP", key(), "5"))
        await asyncio.sleep(0.05)

        relay.cut()
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(waiting, 2.0)
        with pytest.raises((RedisConnectionError, OSError)):
            await pipe.execute("PING")

        relay.restore()
        assert await pipe.execute("PING") == "PONG"
    finally:
        pipe.close()
        await relay.stop()


async def test_the_database_of_the_url_is_selected(redis_engine: Harness) -> None:
    parts = urlsplit(REDIS_URL)
    name = key()
    other = RedisPipe(f"redis://{parts.netloc}/15")
    default = RedisPipe(f"redis://{parts.netloc}/0")
    try:
        await other.execute("SET", name, "in 15")
        assert await default.execute("GET", name) is None
        assert await other.execute("GET", name) == "in 15"
    finally:
        await other.execute("DEL", name)
        other.close()
        default.close()


def test_tls_urls_stay_with_the_pool() -> None:
    assert pipe_supports("redis://127.0.0.1:6379/0")
    assert pipe_supports("unix:///run/redis.sock?db=1")
    assert not pipe_supports("rediss://cache.example:6380/0")
