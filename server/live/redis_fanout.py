"""Fan-out of room frames over Redis pub/sub: one connection and one reader task per process.

Pub/sub is at-most-once. After a dropped connection each subscribed session's newest event is
re-delivered, so listeners notice the gap by ``seq`` and read the rest from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from protocol.events import peek_seq
from server.live.ports import Listener, LiveStateUnavailable, LoggedEvent, Subscription
from server.live.redis_client import UNAVAILABLE

log = logging.getLogger(__name__)

# Ephemeral frames share the session's channel; the mark tells them from numbered frames,
# which always start with '{"seq":'.
SIGNAL_MARK = "!"

_CONFIRM_TIMEOUT_S = 5.0
_PUBSUB_PING_S = 5.0
_PUBSUB_SILENT_S = 3 * _PUBSUB_PING_S
_BACKOFF_MIN_S = 0.05
_BACKOFF_MAX_S = 2.0

# Given a session id, its newest logged event, if any.
Newest = Callable[[int], Awaitable[LoggedEvent | None]]


@dataclass(eq=False)
class Channel:
    """One subscribed channel: its session, its listeners, and whether Redis confirmed it."""

    session_id: int
    confirmed: asyncio.Future[None]
    listeners: list[Listener] = field(default_factory=list)


class _Registry(Protocol):
    async def remove(self, channel: str, entry: Channel, listener: Listener) -> None: ...


class ChannelSubscription:
    def __init__(self, fanout: _Registry, channel: str, entry: Channel, listener: Listener) -> None:
        self._fanout = fanout
        self._channel = channel
        self._entry = entry
        self._listener = listener

    async def close(self) -> None:
        await self._fanout.remove(self._channel, self._entry, self._listener)


async def confirmed(subscription: ChannelSubscription, entry: Channel) -> ChannelSubscription:
    """Wait until Redis confirmed ``entry``'s channel; on failure the subscription is closed."""
    try:
        await asyncio.wait_for(asyncio.shield(entry.confirmed), _CONFIRM_TIMEOUT_S)
    except TimeoutError as exc:
        await subscription.close()
        raise LiveStateUnavailable("Redis did not confirm the subscription") from exc
    except BaseException:
        await asyncio.shield(subscription.close())
        raise
    return subscription


def fail_unconfirmed(channels: Iterable[Channel], exc: Exception) -> None:
    """Waiting subscribers learn now that Redis is down rather than at their timeout."""
    for entry in channels:
        if not entry.confirmed.done():
            entry.confirmed.set_exception(LiveStateUnavailable(f"Redis: {exc}"))
            # Each waiter re-raises it; none may be left, and that is no error.
            entry.confirmed.exception()


def dispatch(entry: Channel, message: str) -> None:
    """Hand a published message to the channel's listeners: a signal, or a numbered frame."""
    if message.startswith(SIGNAL_MARK):
        deliver(entry, LoggedEvent(0, message[len(SIGNAL_MARK) :]))
        return
    try:
        event = LoggedEvent(peek_seq(message), message)
    except ValueError:
        log.error("dropping a malformed frame of session %s: %.80r", entry.session_id, message)
        return
    deliver(entry, event)


def deliver(entry: Channel, event: LoggedEvent) -> None:
    for listener in tuple(entry.listeners):
        try:
            listener(event)
        except Exception:
            log.exception("a listener of session %s failed", entry.session_id)


class Fanout:
    """One pub/sub connection for every subscriber of a room log, read by one task.

    Writes to the connection and swapping it happen under ``_lock``, so a channel is
    subscribed on the current connection exactly when it is in ``_channels``.
    """

    def __init__(self, pool: ConnectionPool, newest: Newest) -> None:
        self._pool = pool
        self._newest = newest
        self._channels: dict[str, Channel] = {}
        # SUBSCRIBE replies still due on the current connection, per channel. A subscription is
        # confirmed by the reply to its latest SUBSCRIBE, which comes after any UNSUBSCRIBE.
        self._pending: dict[str, int] = {}
        # Channels that were subscribed before the connection dropped and may have missed events.
        self._resync: set[str] = set()
        self._conn: AbstractConnection | None = None
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    async def add(self, session_id: int, channel: str, listener: Listener) -> Subscription:
        """Returns once Redis confirmed the subscription: later publishes are delivered."""
        if self._closed:
            raise LiveStateUnavailable("the room log is closed")
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._run())
        async with self._lock:
            entry = self._channels.get(channel)
            if entry is None:
                entry = Channel(session_id, asyncio.get_running_loop().create_future())
                self._channels[channel] = entry
                await self._send("SUBSCRIBE", channel)
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
            self._resync.discard(channel)
            await self._send("UNSUBSCRIBE", channel)

    async def _send(self, *args: str) -> None:
        """Write a command on the current connection; the caller holds ``_lock``."""
        conn = self._conn
        if conn is None or not conn.is_connected:
            return  # the reader subscribes every channel when it reconnects
        if args[0] == "SUBSCRIBE":
            for channel in args[1:]:
                self._pending[channel] = self._pending.get(channel, 0) + 1
        try:
            await conn.send_command(*args, check_health=False)
        except UNAVAILABLE as exc:
            # The failed write closed the connection; the reader notices and reconnects.
            log.debug("pub/sub %s failed: %s", args[0], exc)

    async def _run(self) -> None:
        delay = _BACKOFF_MIN_S
        reconnecting = False
        while True:
            try:
                conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
            except UNAVAILABLE as exc:
                log.warning("room log pub/sub cannot connect (%s); retrying", exc)
                fail_unconfirmed(self._channels.values(), exc)
            else:
                try:
                    async with self._lock:
                        self._conn = conn
                        self._pending = {}
                        if reconnecting:
                            self._resync = set(self._channels)
                        if self._channels:
                            await self._send("SUBSCRIBE", *self._channels)
                    delay = _BACKOFF_MIN_S
                    await self._read(conn)
                except (*UNAVAILABLE, ResponseError) as exc:
                    log.warning("room log pub/sub connection lost (%s); reconnecting", exc)
                except Exception:
                    # Fan-out must outlive any surprise; subscribers catch up after a reconnect.
                    log.exception("room log pub/sub reader failed; reconnecting")
                finally:
                    await self._drop(conn)
                reconnecting = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX_S)

    async def _drop(self, conn: AbstractConnection) -> None:
        async with self._lock:
            self._conn = None
        # A connection in subscribed mode must not serve ordinary commands.
        await conn.disconnect()
        await self._pool.release(conn)

    async def _read(self, conn: AbstractConnection) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            reply = await conn.read_response(timeout=_PUBSUB_PING_S, disconnect_on_error=False)
            if reply is None:
                # A silent socket may be half-open; a PING proves it is not.
                if loop.time() - heard > _PUBSUB_SILENT_S:
                    raise RedisConnectionError("the pub/sub connection went silent")
                async with self._lock:
                    await self._send("PING")
                continue
            heard = loop.time()
            await self._handle(reply)

    async def _handle(self, reply: list[Any]) -> None:
        kind, channel = reply[0], reply[1]
        if kind == "message":
            entry = self._channels.get(channel)
            if entry is not None:
                dispatch(entry, reply[2])
        elif kind == "subscribe":
            due = self._pending.get(channel, 0) - 1
            if due > 0:
                self._pending[channel] = due
                return
            self._pending.pop(channel, None)
            entry = self._channels.get(channel)
            if entry is None:
                return
            if channel in self._resync:
                self._resync.discard(channel)
                event = await self._newest(entry.session_id)
                if event is not None:
                    deliver(entry, event)
            if not entry.confirmed.done():
                entry.confirmed.set_result(None)

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait([self._reader])
            self._reader = None
