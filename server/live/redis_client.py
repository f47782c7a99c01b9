"""What every part of the Redis engine shares: the connection pool, error mapping, Lua, replies.

Redis being unreachable surfaces as :class:`LiveStateUnavailable`, never as a driver error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis.asyncio as redis
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.live.ports import LiveStateUnavailable
from server.live.redis_pipe import PipeScript, RedisPipe

_LUA = {
    path.name: path.read_text("utf-8") for path in Path(__file__).with_name("lua").glob("*.lua")
}


@dataclass(frozen=True, slots=True)
class RedisLimits:
    """How long Redis may take, and how many connections one process opens (``redis_*``
    settings)."""

    connect_timeout_s: float = 2.0
    # Every command must answer within this; see unavailable().
    command_timeout_s: float = 5.0
    health_check_s: float = 15.0
    # More concurrent commands than this wait for a connection to free up.
    max_connections: int = 64


# Every command must answer within this unless told otherwise; see unavailable().
COMMAND_TIMEOUT_S = RedisLimits().command_timeout_s

# What the driver raises when the server cannot be reached or stops answering.
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)

Entries = list[tuple[str, dict[str, str]]]


def connect(url: str, limits: RedisLimits | None = None) -> redis.Redis:
    """A client on a new pool; connections are opened on first use.

    The pool is bounded: a burst of commands waits for a free connection (up to the command
    timeout) instead of opening sockets without limit. There is no driver socket timeout
    (redis-py's default is 5 s, so it is switched off by name): with one, redis-py wraps every
    write in ``asyncio.wait_for``, a task per command on Python 3.11, and cuts reads off at
    5 s whatever ``command_timeout_s`` says; :func:`unavailable` bounds each command instead.
    A ``socket_timeout`` in the URL still wins.
    """
    limits = limits or RedisLimits()
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=limits.max_connections,
        timeout=limits.command_timeout_s,
        decode_responses=True,
        protocol=2,
        socket_connect_timeout=limits.connect_timeout_s,
        socket_timeout=None,
        health_check_interval=limits.health_check_s,
        # No silent retries: a retried append could be numbered twice.
        retry=Retry(NoBackoff(), 0),
    )
    return redis.Redis(connection_pool=pool)


@contextlib.asynccontextmanager
async def unavailable(
    timeout_s: float = COMMAND_TIMEOUT_S, *, waits_s: float = 0.0
) -> AsyncIterator[None]:
    """Bound the commands inside to ``timeout_s`` (plus ``waits_s`` for a command that
    blocks on purpose), and re-raise the driver's connection failures and that
    timeout as :class:`LiveStateUnavailable`.

    A command cut off by the timeout has its connection dropped by the driver, so no reply
    is ever read as another command's.
    """
    try:
        async with asyncio.timeout(timeout_s + waits_s):
            yield
    except UNAVAILABLE as exc:
        raise LiveStateUnavailable(f"Redis: {exc or type(exc).__name__}") from exc


def load_script(client: redis.Redis, *names: str) -> AsyncScript:
    """The files of ``lua/`` joined in this order, so a library file can precede its users."""
    return client.register_script(_source(names))


def load_pipe_script(pipe: RedisPipe, *names: str) -> PipeScript:
    """As :func:`load_script`, run through ``pipe``."""
    return PipeScript(pipe, _source(names))


def _source(names: tuple[str, ...]) -> str:
    return "\n".join(_LUA[name] for name in names)


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
