"""Fan-out on a Redis Cluster: sharded pub/sub (``SSUBSCRIBE``/``SPUBLISH``), per room channel.

A sharded channel lives on the master that owns its slot, so each room's channel is subscribed
there, over one connection per master read by one task (a ``_Link``). Where a channel lives is
redis-py's cluster map (``RedisCluster.get_node_from_key``); when Redis says a channel moved (a
``sunsubscribe`` it did not ask for, after a failover or a slot migration, or a ``MOVED`` reply)
or a master stops answering, the map is refreshed and the channel subscribed where it is now.

Pub/sub is at-most-once, here as on one Redis: a channel subscribed again after a move or a
lost connection is re-delivered its session's newest event, so listeners notice a gap by
``seq`` and read the rest from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from server.live.ports import Listener, LiveStateUnavailable, Subscription
from server.live.redis_client import UNAVAILABLE, ClusterAddress
from server.live.redis_fanout import (
    Channel,
    ChannelSubscription,
    Newest,
    confirmed,
    deliver,
    dispatch,
    fail_unconfirmed,
)

log = logging.getLogger(__name__)

_PUBSUB_PING_S = 5.0
_PUBSUB_SILENT_S = 3 * _PUBSUB_PING_S
_BACKOFF_MIN_S = 0.05
_BACKOFF_MAX_S = 2.0
# A burst of moves (one failover moves every channel of a master) refreshes the map once.
_REFRESH_MIN_INTERVAL_S = 0.25


class ShardedFanout:
    """Every subscribed channel, and the link to the master each is subscribed on.

    ``_lock`` guards which link a channel is placed on; each link guards its own connection.
    """

    def __init__(
        self,
        cluster: RedisCluster,
        address: ClusterAddress,
        newest: Newest,
        *,
        connect_timeout_s: float,
    ) -> None:
        self._cluster = cluster
        self._address = address
        self._newest = newest
        self._connect_timeout_s = connect_timeout_s
        self._channels: dict[str, Channel] = {}
        self._placed: dict[str, _Link] = {}
        self._links: dict[str, _Link] = {}
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None
        self._refreshed_at = 0.0
        self._closed = False

    async def add(self, session_id: int, channel: str, listener: Listener) -> Subscription:
        """Returns once the owning master confirmed the subscription."""
        if self._closed:
            raise LiveStateUnavailable("the room log is closed")
        async with self._lock:
            entry = self._channels.get(channel)
            if entry is None:
                entry = Channel(session_id, asyncio.get_running_loop().create_future())
                self._channels[channel] = entry
                try:
                    await self._place(channel, resync=False)
                except BaseException:
                    del self._channels[channel]
                    raise
            entry.listeners.append(listener)
        return await confirmed(ChannelSubscription(self, channel, entry, listener), entry)

    async def remove(self, channel: str, entry: Channel, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            entry.listeners.remove(listener)
        if entry.listeners:
            return
        async with self._lock:
            if entry.listeners or self._channels.get(channel) is not entry:
                return
            del self._channels[channel]
            link = self._placed.pop(channel, None)
            if link is not None:
                await link.unsubscribe(channel)

    def entry(self, channel: str) -> Channel | None:
        return self._channels.get(channel)

    async def newest(self, channel: str) -> None:
        """Re-deliver the newest event of a channel subscribed again (see the docstring)."""
        entry = self._channels.get(channel)
        if entry is None:
            return
        event = await self._newest(entry.session_id)
        if event is not None:
            deliver(entry, event)

    async def _place(self, channel: str, *, resync: bool) -> None:
        """Subscribe ``channel`` on the link of its slot's master; the caller holds ``_lock``."""
        try:
            node = self._cluster.get_node_from_key(channel)
        except Exception as exc:  # the map may have no master for the slot mid-failover
            raise LiveStateUnavailable(f"Redis Cluster: {exc}") from exc
        if node is None:
            raise LiveStateUnavailable(f"Redis Cluster: no master holds {channel!r}")
        link = self._links.get(node.name)
        if link is None:
            pool = ConnectionPool.from_url(
                self._address.node_url(node.host, int(node.port)),
                decode_responses=True,
                protocol=2,
                socket_connect_timeout=self._connect_timeout_s,
                socket_timeout=None,
            )
            link = _Link(self, node.name, pool)
            self._links[node.name] = link
        self._placed[channel] = link
        await link.subscribe(channel, resync=resync)

    def displaced(self, link: _Link, channels: list[str]) -> None:
        """Redis said these channels are no longer ``link``'s: find where they are now."""
        if self._closed or not channels:
            return
        link.stranded.update(channels)
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._replace())

    async def _replace(self) -> None:
        """Refresh the map and place every stranded channel again, until none is left (a slot
        has no master for the moment a failover takes)."""
        loop = asyncio.get_running_loop()
        while any(link.stranded for link in self._links.values()):
            await asyncio.sleep(
                max(0.0, self._refreshed_at + _REFRESH_MIN_INTERVAL_S - loop.time())
            )
            self._refreshed_at = loop.time()
            try:
                await self._cluster.nodes_manager.initialize()
            except Exception as exc:
                log.warning("cannot refresh the Redis Cluster map (%s); retrying", exc)
                continue
            async with self._lock:
                for link in list(self._links.values()):
                    stranded, link.stranded = link.stranded, set()
                    for channel in stranded:
                        if self._placed.get(channel) is not link or channel not in self._channels:
                            continue
                        link.forget(channel)
                        try:
                            await self._place(channel, resync=True)
                        except LiveStateUnavailable as exc:
                            log.info("sharded channel %s has no master yet (%s)", channel, exc)
                            self._placed[channel] = link
                            link.stranded.add(channel)
                # A link left with no channel (its master died, or gave its slots away) would
                # otherwise keep reconnecting to it.
                for name, link in list(self._links.items()):
                    if link.idle:
                        del self._links[name]
                        await link.close()

    async def close(self) -> None:
        self._closed = True
        if self._refreshing is not None:
            self._refreshing.cancel()
            await asyncio.wait([self._refreshing])
        for link in self._links.values():
            await link.close()


class _Link:
    """One connection to one master, holding the sharded subscriptions placed on it.

    Writes to the connection and swapping it happen under ``_lock``: a channel is subscribed on
    the current connection exactly when it is in ``_subscribed``.
    """

    def __init__(self, fanout: ShardedFanout, name: str, pool: ConnectionPool) -> None:
        self._fanout = fanout
        self.name = name
        self._pool = pool
        self._subscribed: set[str] = set()
        # SSUBSCRIBE replies still due on the current connection, per channel.
        self._pending: dict[str, int] = {}
        # SUNSUBSCRIBE replies we asked for: any other sunsubscribe means the channel moved.
        self._leaving: dict[str, int] = {}
        # Subscribed again (after a move or a reconnect): re-deliver the newest event.
        self._resync: set[str] = set()
        # Channels Redis said moved, waiting for the fan-out to place them again.
        self.stranded: set[str] = set()
        self._conn: AbstractConnection | None = None
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    async def subscribe(self, channel: str, *, resync: bool) -> None:
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._run())
        async with self._lock:
            self._subscribed.add(channel)
            if resync:
                self._resync.add(channel)
            await self._send("SSUBSCRIBE", channel)

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            if channel not in self._subscribed:
                return
            self.forget(channel)
            if self._conn is not None and self._conn.is_connected:
                self._leaving[channel] = self._leaving.get(channel, 0) + 1
            await self._send("SUNSUBSCRIBE", channel)

    @property
    def idle(self) -> bool:
        return not self._subscribed and not self.stranded

    def forget(self, channel: str) -> None:
        self._subscribed.discard(channel)
        self._resync.discard(channel)
        self.stranded.discard(channel)

    async def _send(self, *args: str) -> None:
        """Write a command on the current connection; the caller holds ``_lock``."""
        conn = self._conn
        if conn is None or not conn.is_connected:
            return  # the reader subscribes every channel when it reconnects
        if args[0] == "SSUBSCRIBE":
            self._pending[args[1]] = self._pending.get(args[1], 0) + 1
        try:
            await conn.send_command(*args, check_health=False)
        except UNAVAILABLE as exc:
            log.debug("sharded pub/sub %s on %s failed: %s", args[0], self.name, exc)

    async def _run(self) -> None:
        delay = _BACKOFF_MIN_S
        while True:
            try:
                conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
            except UNAVAILABLE as exc:
                log.warning("sharded pub/sub cannot reach %s (%s)", self.name, exc)
                self._lost(exc)
            else:
                try:
                    async with self._lock:
                        self._conn = conn
                        self._pending = {}
                        self._leaving = {}
                        # Sharded channels of different slots need one SSUBSCRIBE each.
                        for channel in self._subscribed:
                            await self._send("SSUBSCRIBE", channel)
                    delay = _BACKOFF_MIN_S
                    await self._read(conn)
                except UNAVAILABLE as exc:
                    log.warning("sharded pub/sub to %s lost (%s)", self.name, exc)
                    self._lost(exc)
                except Exception:
                    log.exception("sharded pub/sub reader of %s failed; reconnecting", self.name)
                finally:
                    await self._drop(conn)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX_S)

    def _lost(self, exc: Exception) -> None:
        """Whatever was published meanwhile was missed; the master may be gone for good."""
        self._resync.update(self._subscribed)
        channels = [self._fanout.entry(channel) for channel in self._subscribed]
        fail_unconfirmed((entry for entry in channels if entry is not None), exc)
        self._fanout.displaced(self, list(self._subscribed))

    async def _drop(self, conn: AbstractConnection) -> None:
        async with self._lock:
            self._conn = None
        await conn.disconnect()
        await self._pool.release(conn)

    async def _read(self, conn: AbstractConnection) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            try:
                reply = await conn.read_response(timeout=_PUBSUB_PING_S, disconnect_on_error=False)
            except ResponseError as exc:
                self._refused(exc)
                continue
            if reply is None:
                if loop.time() - heard > _PUBSUB_SILENT_S:
                    raise RedisConnectionError("the sharded pub/sub connection went silent")
                async with self._lock:
                    await self._send("PING")
                continue
            heard = loop.time()
            await self._handle(reply)

    def _refused(self, exc: ResponseError) -> None:
        """``MOVED <slot> <host:port>`` to an SSUBSCRIBE: the slot's channels live elsewhere."""
        words = str(exc).split()
        if len(words) >= 2 and words[0] in ("MOVED", "ASK") and words[1].isdigit():
            slot = int(words[1])
            moved = [c for c in self._subscribed if key_slot(c.encode()) == slot]
            for channel in moved:
                self._pending.pop(channel, None)
            self._fanout.displaced(self, moved)
            return
        log.warning("sharded pub/sub on %s refused: %s", self.name, exc)

    async def _handle(self, reply: list[Any]) -> None:
        kind = reply[0]
        if kind == "smessage":
            entry = self._fanout.entry(reply[1]) if reply[1] in self._subscribed else None
            if entry is not None:
                dispatch(entry, reply[2])
        elif kind == "ssubscribe":
            channel = reply[1]
            due = self._pending.get(channel, 0) - 1
            if due > 0:
                self._pending[channel] = due
                return
            self._pending.pop(channel, None)
            entry = self._fanout.entry(channel)
            if entry is None or channel not in self._subscribed:
                return
            if channel in self._resync:
                self._resync.discard(channel)
                await self._fanout.newest(channel)
            if not entry.confirmed.done():
                entry.confirmed.set_result(None)
        elif kind == "sunsubscribe":
            channel = reply[1]
            leaving = self._leaving.get(channel, 0)
            if leaving > 0:
                if leaving == 1:
                    del self._leaving[channel]
                else:
                    self._leaving[channel] = leaving - 1
                return
            if channel in self._subscribed:
                # Redis let go of it: its slot moved to another master (failover, resharding).
                self._fanout.displaced(self, [channel])

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait([self._reader])
            self._reader = None
        await self._pool.disconnect()
