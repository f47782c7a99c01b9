"""The pipelined connection (``redis_pipe``) on a Redis Cluster: one per master, by slot.

Where a key lives is the map of redis-py's cluster client, which every other command of the
engine goes through. The map can be behind the cluster: a ``MOVED`` reply sends the command
again to the node it names and has the map refreshed; ``ASK`` (a slot being migrated) sends it
once to the node it names, after ``ASKING``; a lost connection has the map refreshed. Replies
that mean a slot has no master for now (``CLUSTERDOWN``, ``TRYAGAIN``, a failover) are raised
as redis-py's cluster errors, which the engine maps to ``LiveStateUnavailable`` as it does the
client's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ClusterDownError, ClusterError, ResponseError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError

from server.live.redis_client import ClusterAddress
from server.live.redis_pipe import PipeScript, RedisPipe

log = logging.getLogger(__name__)

# Redirections one command may follow before it gives up (redis-py's client allows 16).
_REDIRECTS = 5
# A burst of redirects (a failover moves every slot of a master) refreshes the map once.
_REFRESH_MIN_INTERVAL_S = 0.25

Address = tuple[str, int]


class ClusterPipe:
    """A :class:`RedisPipe` per master, opened on first use. Satisfies ``redis_pipe.Pipe``."""

    def __init__(
        self, cluster: RedisCluster, address: ClusterAddress, connect_timeout_s: float
    ) -> None:
        self._cluster = cluster
        self._address = address
        self._connect_timeout_s = connect_timeout_s
        self._pipes: dict[Address, RedisPipe] = {}
        self._refreshing: asyncio.Task[None] | None = None
        self._refreshed_at = float("-inf")

    async def execute(self, *args: str | int | float) -> Any:
        return await self._run(str(args[1]), lambda pipe: pipe.execute(*args), args)

    async def evalsha(self, script: PipeScript, keys: list[str], args: list[str | int]) -> Any:
        # After ASK: EVAL, not EVALSHA, as a node importing a slot may not know the script.
        whole = ("EVAL", script.source, len(keys), *keys, *args)
        return await self._run(keys[0], lambda pipe: pipe.evalsha(script, keys, args), whole)

    async def _run(
        self,
        key: str,
        send: Callable[[RedisPipe], Awaitable[Any]],
        command: tuple[str | int | float, ...],
    ) -> Any:
        """``send`` the command on the pipe of ``key``'s master, following redirects;
        ``command`` is what goes after ``ASKING``."""
        target = self._owner(key)
        asking = False
        for _ in range(_REDIRECTS + 1):
            pipe = self._pipe(target)
            try:
                return await (pipe.execute_asking(*command) if asking else send(pipe))
            except ResponseError as exc:
                redirect = _redirect(exc)
                if redirect is None:
                    raise _unavailable(exc) or exc from None
                kind, target = redirect
                asking = kind == "ASK"
                if not asking:
                    self._refresh()
            except (RedisConnectionError, OSError):
                # Refused or lost (OSError when the connection cannot be opened at all).
                self._refresh()
                raise
        raise ClusterError(f"a command on {key!r} was redirected more than {_REDIRECTS} times")

    def _owner(self, key: str) -> Address:
        node = self._cluster.get_node_from_key(key)
        if node is None:
            self._refresh()
            raise ClusterDownError(f"no master holds {key!r} for now")
        return node.host, int(node.port)

    def _pipe(self, address: Address) -> RedisPipe:
        pipe = self._pipes.get(address)
        if pipe is None:
            url = self._address.node_url(*address)
            pipe = self._pipes[address] = RedisPipe(url, self._connect_timeout_s)
        return pipe

    def _refresh(self) -> None:
        """Have the client's map read again from the cluster, at most once per interval."""
        if self._refreshing is not None and not self._refreshing.done():
            return
        self._refreshing = asyncio.get_running_loop().create_task(self._read_map())

    async def _read_map(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self._refreshed_at + _REFRESH_MIN_INTERVAL_S - loop.time()))
        self._refreshed_at = loop.time()
        try:
            await self._cluster.nodes_manager.initialize()
        except Exception as exc:
            log.warning("cannot refresh the Redis Cluster map (%s)", exc)
        # Pipes to nodes that no longer hold a slot go: a dead master's would reconnect forever.
        live = {(node.host, int(node.port)) for node in self._cluster.get_primaries()}
        for address in list(self._pipes):
            if address not in live:
                self._pipes.pop(address).close()

    def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
        for pipe in self._pipes.values():
            pipe.close()
        self._pipes.clear()


def _redirect(exc: ResponseError) -> tuple[str, Address] | None:
    """``MOVED <slot> <host>:<port>`` or ``ASK …``: where to send the command instead."""
    words = str(exc).split()
    if len(words) != 3 or words[0] not in ("MOVED", "ASK"):
        return None
    host, _, port = words[2].rpartition(":")
    return words[0], (host, int(port))


def _unavailable(exc: ResponseError) -> ResponseError | None:
    """A cluster error for replies that mean "not now" rather than "wrong"."""
    message = str(exc)
    if message.startswith("CLUSTERDOWN"):
        return ClusterDownError(message)
    if message.startswith("TRYAGAIN"):
        return TryAgainError(message)
    return None
