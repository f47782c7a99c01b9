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
from urllib.parse import quote, unquote

import redis.asyncio as redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import AskError, ClusterError, RedisClusterException, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.live.ports import LiveStateUnavailable
from server.live.redis_pipe import Pipe, PipeScript

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

# What the driver raises when the server cannot be reached or stops answering, or (on a
# cluster) while a slot has no master: a failover, a migration the client has not caught up
# with (``ClusterDownError``, ``TryAgainError``, ``MovedError`` past its redirects, …).
UNAVAILABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    ClusterError,
    RedisClusterException,
    TryAgainError,
    AskError,  # and MovedError: redirects past the client's patience
)

# Either client: the engine's parts use only the commands both have.
Client = redis.Redis | RedisCluster

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")

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


@dataclass(frozen=True, slots=True)
class ClusterAddress:
    """What a ``redis+cluster://[user:password@]host:port[,host:port…]`` URL says."""

    nodes: tuple[tuple[str, int], ...]
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> ClusterAddress:
        scheme, _, rest = url.partition("://")
        if scheme + "://" not in CLUSTER_SCHEMES:
            raise ValueError(f"not a Redis Cluster URL: {url!r}")
        rest = rest.split("/", 1)[0].split("?", 1)[0]
        credentials, _, hosts = rest.rpartition("@")
        username, _, password = credentials.partition(":") if credentials else ("", "", "")
        nodes: list[tuple[str, int]] = []
        for part in hosts.split(","):
            host, _, port = part.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"a Redis Cluster URL lists host:port seeds, not {part!r}")
            nodes.append((host.strip("[]"), int(port)))
        return cls(
            tuple(nodes),
            tls=scheme == "rediss+cluster",
            username=unquote(username) or None,
            password=unquote(password) or None,
        )

    def node_url(self, host: str, port: int) -> str:
        """A plain URL of one node, with this cluster's credentials and TLS."""
        auth = ""
        if self.password is not None:
            auth = f"{quote(self.username or '', safe='')}:{quote(self.password, safe='')}@"
        return f"{'rediss' if self.tls else 'redis'}://{auth}{host}:{port}"


class BoundedRedisCluster(RedisCluster):
    """redis-py's cluster client, with commands beyond ``max_commands`` at once waiting for one
    to finish, as :func:`connect`'s blocking pool makes them wait on one Redis: the cluster's
    node pools refuse a command outright (``MaxConnectionsError``) when they are exhausted."""

    def __init__(self, *args: Any, max_commands: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._commands = asyncio.Semaphore(max_commands)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if args and args[0] == "XREADGROUP" and "target_nodes" not in kwargs:
            # redis-py finds the keys of XREADGROUP by asking a node (COMMAND GETKEYS), and
            # that node is not replaced when it dies: after a failover every outbox read would
            # fail on the dead node, with no refresh asked for. The stream is known: route it.
            words = [arg.decode() if isinstance(arg, bytes) else str(arg) for arg in args]
            stream = args[words.index("STREAMS") + 1]
            kwargs["target_nodes"] = self.get_node_from_key(stream)
        async with self._commands:
            return await super().execute_command(*args, **kwargs)


# Connections each node's pool may open beyond ``max_connections``: room for the few pipelined
# transactions, which bypass the command bound.
_CLUSTER_POOL_SLACK = 16


def connect_cluster(url: str, limits: RedisLimits | None = None) -> RedisCluster:
    """redis-py's cluster client on the seeds of ``url``: it learns the slots from them, follows
    MOVED and ASK, and refreshes its map after a failover. It retries nothing else, for the
    reason :func:`connect` gives: a failure reaches the caller as :class:`LiveStateUnavailable`.
    ``max_connections`` bounds the commands in flight at once.
    """
    limits = limits or RedisLimits()
    address = ClusterAddress.parse(url)
    return BoundedRedisCluster(
        max_commands=limits.max_connections,
        startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
        decode_responses=True,
        protocol=2,
        username=address.username,
        password=address.password,
        ssl=address.tls,
        socket_connect_timeout=limits.connect_timeout_s,
        socket_timeout=None,
        health_check_interval=limits.health_check_s,
        max_connections=limits.max_connections + _CLUSTER_POOL_SLACK,
        retry=Retry(NoBackoff(), 0),
    )


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


def load_script(client: Client, *names: str) -> AsyncScript:
    """The files of ``lua/`` joined in this order, so a library file can precede its users."""
    return client.register_script(_source(names))


def load_pipe_script(pipe: Pipe, *names: str) -> PipeScript:
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
