"""What every part of the Redis engine shares: the connection pool, error mapping, Lua, replies.

Redis being unreachable surfaces as :class:`LiveStateUnavailable`, never as a driver error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import redis.asyncio as redis
from redis.asyncio.connection import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.live.ports import LiveStateUnavailable

_LUA = {
    path.name: path.read_text("utf-8") for path in Path(__file__).with_name("lua").glob("*.lua")
}

_CONNECT_TIMEOUT_S = 2.0
_SOCKET_TIMEOUT_S = 5.0
_HEALTH_CHECK_S = 15

# What the driver raises when the server cannot be reached or stops answering.
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)

Entries = list[tuple[str, dict[str, str]]]


def connect(url: str) -> redis.Redis:
    """A client on a new pool; connections are opened on first use."""
    pool = ConnectionPool.from_url(
        url,
        decode_responses=True,
        protocol=2,
        socket_connect_timeout=_CONNECT_TIMEOUT_S,
        socket_timeout=_SOCKET_TIMEOUT_S,
        health_check_interval=_HEALTH_CHECK_S,
        # No silent retries: a retried append could be numbered twice.
        retry=Retry(NoBackoff(), 0),
    )
    return redis.Redis(connection_pool=pool)


@contextlib.contextmanager
def unavailable() -> Iterator[None]:
    """Re-raise the driver's connection failures as :class:`LiveStateUnavailable`."""
    try:
        yield
    except UNAVAILABLE as exc:
        raise LiveStateUnavailable(f"Redis: {exc or type(exc).__name__}") from exc


def load_script(client: redis.Redis, *names: str) -> AsyncScript:
    """The files of ``lua/`` joined in this order, so a library file can precede its users."""
    return client.register_script("\n".join(_LUA[name] for name in names))


def entry_seq(entry_id: str) -> int:
    """The seq of a room log entry, whose id is ``<seq>-0``."""
    return int(entry_id.partition("-")[0])


def stream_entries(reply: Any) -> Entries:
    """The entries of an XRANGE reply, or of the one stream of an XREADGROUP reply."""
    if not reply:
        return []
    if isinstance(reply[0], list):
        reply = reply[0][1]
    return cast(Entries, reply)
