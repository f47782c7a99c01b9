"""The Redis engine (``redis://``): live state shared by every process of a deployment.

A session's log is a stream whose entry ids are ``<seq>-0``; one Lua script numbers, stores,
queues and publishes each event, so all processes see one gap-free order. Frames fan out over
pub/sub, which is at-most-once: after a dropped connection each subscribed session's newest
event is re-delivered so listeners notice the gap and read the rest from the log. Persisted
events also go to one outbox stream that the transcript writers read as a consumer group.

Redis being unreachable surfaces as :class:`LiveStateUnavailable`, never as a driver error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis.asyncio as redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from protocol.events import UserRef, peek_seq
from protocol.sequence import LogWindow
from server.live.keys import LiveKeys
from server.live.ports import (
    Listener,
    LiveState,
    LiveStateUnavailable,
    LoggedEvent,
    OutboxItem,
    SeedSource,
    Subscription,
)

log = logging.getLogger(__name__)

_LUA = {
    path.name: path.read_text("utf-8") for path in Path(__file__).with_name("lua").glob("*.lua")
}

_CONNECT_TIMEOUT_S = 2.0
_SOCKET_TIMEOUT_S = 5.0
_HEALTH_CHECK_S = 15
# Blocking reads are cut into slices well inside the socket timeout.
_BLOCK_SLICE_S = 2.0
# A safety bound, far above what a healthy transcript writer leaves behind.
_OUTBOX_MAXLEN = 1_000_000
# Creating a log and appending to it are two scripts; the log may vanish in between.
_CREATE_ATTEMPTS = 3
_CONFIRM_TIMEOUT_S = 5.0
_PUBSUB_PING_S = 5.0
_PUBSUB_SILENT_S = 3 * _PUBSUB_PING_S
_BACKOFF_MIN_S = 0.05
_BACKOFF_MAX_S = 2.0
# Presence keys outlive the last heartbeat long enough for another process to reap (and
# announce) a dead process's connections; an abandoned room then vanishes.
_PRESENCE_KEY_TTL_MIN_S = 60
_PRESENCE_KEY_TTL_FACTOR = 20
_CLAIM_SCANS = 10
# Ephemeral frames share the session's channel; the mark tells them from numbered frames,
# which always start with '{"seq":'.
_SIGNAL_MARK = "!"

_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        raise LiveStateUnavailable(f"Redis: {exc or type(exc).__name__}") from exc


def _script(client: redis.Redis, *names: str) -> AsyncScript:
    return client.register_script("\n".join(_LUA[name] for name in names))


def _entry_seq(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


_Entries = list[tuple[str, dict[str, str]]]


def _entries(reply: Any) -> _Entries:
    """The entries of an XRANGE reply, or of the one stream of an XREADGROUP reply."""
    if not reply:
        return []
    if isinstance(reply[0], list):
        reply = reply[0][1]
    return cast(_Entries, reply)


class RedisRoomLog:
    """Closing it closes the connection pool the presence and outbox share."""

    def __init__(
        self,
        client: redis.Redis,
        keys: LiveKeys,
        *,
        retention: int,
        idle_ttl_s: int,
        seed: SeedSource,
    ) -> None:
        self._client = client
        self._keys = keys
        self._retention = retention
        self._idle_ttl_s = idle_ttl_s
        self._seed = seed
        self._append = _script(client, "log_append.lua")
        self._create = _script(client, "log_create.lua")
        self._window = _script(client, "log_window.lua")
        self._creating: dict[str, asyncio.Task[None]] = {}
        self._fanout = _Fanout(client.connection_pool, self._newest)

    async def append(self, session_id: str, body: str, *, persist: bool) -> LoggedEvent:
        if not body.startswith("{") or len(body) < 3:
            raise ValueError("an encoded event is a non-empty JSON object")
        keys = [self._keys.meta(session_id), self._keys.log(session_id), self._keys.outbox]
        args: list[str | int] = [
            body,
            self._retention,
            self._idle_ttl_s,
            int(persist),
            session_id,
            self._keys.channel(session_id),
            _OUTBOX_MAXLEN,
        ]
        for _ in range(_CREATE_ATTEMPTS):
            with _unavailable():
                reply = await self._append(keys=keys, args=args)
            if reply:
                seq, frame = reply
                return LoggedEvent(int(seq), str(frame))
            await self._ensure_log(session_id)
        raise LiveStateUnavailable(f"the room log of {session_id} keeps disappearing")

    async def signal(self, session_id: str, frame: str) -> None:
        with _unavailable():
            await self._client.publish(self._keys.channel(session_id), _SIGNAL_MARK + frame)

    async def window(self, session_id: str) -> LogWindow:
        keys = [self._keys.meta(session_id), self._keys.log(session_id)]
        for _ in range(_CREATE_ATTEMPTS):
            with _unavailable():
                reply = await self._window(keys=keys)
            if reply:
                epoch, head, first_id = reply
                first_seq = _entry_seq(first_id) if first_id else int(head) + 1
                return LogWindow(str(epoch), first_seq, int(head))
            await self._ensure_log(session_id)
        raise LiveStateUnavailable(f"the room log of {session_id} keeps disappearing")

    async def _ensure_log(self, session_id: str) -> None:
        # One creation per session at a time in this process: each asks the seed source.
        task = self._creating.get(session_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._create_log(session_id))
            self._creating[session_id] = task
            task.add_done_callback(lambda done: self._created(session_id, done))
        await asyncio.shield(task)

    def _created(self, session_id: str, task: asyncio.Task[None]) -> None:
        if self._creating.get(session_id) is task:
            del self._creating[session_id]
        if not task.cancelled():
            # Every waiter may have been cancelled; the error is theirs, not the loop's.
            task.exception()

    async def _create_log(self, session_id: str) -> None:
        head = await self._seed(session_id)
        keys = [self._keys.meta(session_id), self._keys.log(session_id)]
        with _unavailable():
            await self._create(keys=keys, args=[secrets.token_hex(8), head, self._idle_ttl_s])

    async def read(
        self, session_id: str, after_seq: int, limit: int | None = None
    ) -> list[LoggedEvent]:
        if limit is not None and limit <= 0:
            return []
        start = f"{max(after_seq + 1, 0)}-0"
        with _unavailable():
            reply = await self._client.xrange(self._keys.log(session_id), start, "+", limit)
        return [
            LoggedEvent(_entry_seq(entry_id), fields["d"]) for entry_id, fields in _entries(reply)
        ]

    async def _newest(self, session_id: str) -> LoggedEvent | None:
        reply = await self._client.xrevrange(self._keys.log(session_id), "+", "-", 1)
        for entry_id, fields in _entries(reply):
            return LoggedEvent(_entry_seq(entry_id), fields["d"])
        return None

    async def subscribe(self, session_id: str, listener: Listener) -> Subscription:
        """Returns once Redis confirmed the subscription: later appends are delivered."""
        return await self._fanout.add(session_id, self._keys.channel(session_id), listener)

    async def ping(self) -> None:
        with _unavailable():
            await self._client.ping()

    async def close(self) -> None:
        await self._fanout.close()
        await self._client.aclose(close_connection_pool=True)


@dataclass(eq=False)
class _Channel:
    session_id: str
    confirmed: asyncio.Future[None]
    listeners: list[Listener] = field(default_factory=list)


class _RedisSubscription:
    def __init__(self, fanout: _Fanout, channel: str, entry: _Channel, listener: Listener) -> None:
        self._fanout = fanout
        self._channel = channel
        self._entry = entry
        self._listener = listener

    async def close(self) -> None:
        await self._fanout.remove(self._channel, self._entry, self._listener)


class _Fanout:
    """One pub/sub connection for every subscriber of a room log, read by one task.

    Writes to the connection and swapping it happen under ``_lock``, so a channel is
    subscribed on the current connection exactly when it is in ``_channels``.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        newest: Callable[[str], Awaitable[LoggedEvent | None]],
    ) -> None:
        self._pool = pool
        self._newest = newest
        self._channels: dict[str, _Channel] = {}
        # SUBSCRIBE replies still due on the current connection, per channel. A subscription is
        # confirmed by the reply to its latest SUBSCRIBE, which comes after any UNSUBSCRIBE.
        self._pending: dict[str, int] = {}
        # Channels that were subscribed before the connection dropped and may have missed events.
        self._resync: set[str] = set()
        self._conn: AbstractConnection | None = None
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    async def add(self, session_id: str, channel: str, listener: Listener) -> Subscription:
        if self._closed:
            raise LiveStateUnavailable("the room log is closed")
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._run())
        async with self._lock:
            entry = self._channels.get(channel)
            if entry is None:
                entry = _Channel(session_id, asyncio.get_running_loop().create_future())
                self._channels[channel] = entry
                await self._send("SUBSCRIBE", channel)
            entry.listeners.append(listener)
        subscription = _RedisSubscription(self, channel, entry, listener)
        try:
            await asyncio.wait_for(asyncio.shield(entry.confirmed), _CONFIRM_TIMEOUT_S)
        except TimeoutError as exc:
            await subscription.close()
            raise LiveStateUnavailable("Redis did not confirm the subscription") from exc
        except BaseException:
            await asyncio.shield(subscription.close())
            raise
        return subscription

    async def remove(self, channel: str, entry: _Channel, listener: Listener) -> None:
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
        except _UNAVAILABLE as exc:
            # The failed write closed the connection; the reader notices and reconnects.
            log.debug("pub/sub %s failed: %s", args[0], exc)

    async def _run(self) -> None:
        delay = _BACKOFF_MIN_S
        reconnecting = False
        while True:
            try:
                conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
            except _UNAVAILABLE as exc:
                log.warning("room log pub/sub cannot connect (%s); retrying", exc)
                self._fail_unconfirmed(exc)
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
                except (*_UNAVAILABLE, ResponseError) as exc:
                    log.warning("room log pub/sub connection lost (%s); reconnecting", exc)
                except Exception:
                    # Fan-out must outlive any surprise; subscribers catch up after a reconnect.
                    log.exception("room log pub/sub reader failed; reconnecting")
                finally:
                    await self._drop(conn)
                reconnecting = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX_S)

    def _fail_unconfirmed(self, exc: Exception) -> None:
        """Waiting subscribers learn now that Redis is down rather than at their timeout."""
        for entry in self._channels.values():
            if not entry.confirmed.done():
                entry.confirmed.set_exception(LiveStateUnavailable(f"Redis: {exc}"))
                # Each waiter re-raises it; none may be left, and that is no error.
                entry.confirmed.exception()

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
                self._dispatch(entry, reply[2])
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
                    self._deliver(entry, event)
            if not entry.confirmed.done():
                entry.confirmed.set_result(None)

    def _dispatch(self, entry: _Channel, message: str) -> None:
        if message.startswith(_SIGNAL_MARK):
            self._deliver(entry, LoggedEvent(0, message[len(_SIGNAL_MARK) :]))
            return
        try:
            event = LoggedEvent(peek_seq(message), message)
        except ValueError:
            log.error("dropping a malformed frame of session %s: %.80r", entry.session_id, message)
            return
        self._deliver(entry, event)

    def _deliver(self, entry: _Channel, event: LoggedEvent) -> None:
        for listener in tuple(entry.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a listener of session %s failed", entry.session_id)

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait([self._reader])
            self._reader = None


class RedisPresence:
    def __init__(self, client: redis.Redis, keys: LiveKeys, *, ttl_s: float) -> None:
        self._client = client
        self._keys = keys
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._key_ttl_s = max(_PRESENCE_KEY_TTL_MIN_S, math.ceil(ttl_s * _PRESENCE_KEY_TTL_FACTOR))
        self._join = _script(client, "presence_lib.lua", "presence_join.lua")
        self._leave = _script(client, "presence_lib.lua", "presence_leave.lua")
        self._heartbeat = _script(client, "presence_lib.lua", "presence_heartbeat.lua")
        self._reap = _script(client, "presence_lib.lua", "presence_reap.lua")

    async def join(self, session_id: str, conn_id: str, user: UserRef) -> bool:
        args: list[str | int] = [
            conn_id,
            user.id,
            user.model_dump_json(),
            self._ttl_ms,
            self._key_ttl_s,
        ]
        with _unavailable():
            first = await self._join(keys=self._keys.presence(session_id), args=args)
        return bool(first)

    async def leave(self, session_id: str, conn_id: str) -> UserRef | None:
        with _unavailable():
            user = await self._leave(keys=self._keys.presence(session_id), args=[conn_id])
        return UserRef.model_validate_json(user) if user else None

    async def heartbeat(self, session_id: str, conn_ids: list[str]) -> None:
        if not conn_ids:
            return
        args: list[str | int] = [self._ttl_ms, self._key_ttl_s, *conn_ids]
        with _unavailable():
            await self._heartbeat(keys=self._keys.presence(session_id), args=args)

    async def reap(self, session_id: str) -> list[UserRef]:
        with _unavailable():
            users = await self._reap(keys=self._keys.presence(session_id))
        return [UserRef.model_validate_json(user) for user in users]

    async def members(self, session_id: str) -> list[UserRef]:
        await self.reap(session_id)
        with _unavailable():
            users = await self._client.hvals(self._keys.presence_users(session_id))
        return sorted((UserRef.model_validate_json(user) for user in users), key=lambda u: u.id)


class RedisOutbox:
    """The ``transcript`` consumer group on the outbox stream.

    An entry taken and not acknowledged stays pending to this consumer: ``take`` hands it out
    again once released, and other consumers claim it once it has been idle for
    ``claim_idle_s`` (its taker is presumed dead).
    """

    def __init__(
        self, client: redis.Redis, keys: LiveKeys, *, consumer: str, claim_idle_s: float
    ) -> None:
        self._client = client
        self._stream = keys.outbox
        self._group = keys.outbox_group
        self._consumer = consumer
        self._claim_idle_ms = max(1, round(claim_idle_s * 1000))
        # Taken and neither acknowledged nor released: not handed out again by this process.
        self._in_flight: set[str] = set()

    async def create_group(self) -> None:
        with _unavailable():
            try:
                await self._client.xgroup_create(self._stream, self._group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def take(self, max_items: int, wait_s: float) -> list[OutboxItem]:
        if max_items <= 0:
            return []
        with _unavailable():
            try:
                items = await self._take(max_items, wait_s)
            except ResponseError as exc:
                # The stream was lost (flush, restart): recreate the group and read again.
                if "NOGROUP" not in str(exc):
                    raise
                await self.create_group()
                items = await self._take(max_items, wait_s)
        self._in_flight.update(item.receipt for item in items)
        return items

    async def _take(self, max_items: int, wait_s: float) -> list[OutboxItem]:
        seen = set(self._in_flight)
        items = await self._own_pending(max_items, seen)
        if len(items) < max_items:
            items += await self._claim(max_items - len(items), seen)
        if len(items) < max_items:
            items += await self._new(max_items - len(items), 0.0 if items else wait_s)
        return items

    async def _own_pending(self, count: int, seen: set[str]) -> list[OutboxItem]:
        items: list[OutboxItem] = []
        cursor = "0"
        while len(items) < count:
            reply = await self._client.xreadgroup(
                self._group, self._consumer, {self._stream: cursor}, count + len(seen)
            )
            entries = _entries(reply)
            if not entries:
                break
            items += await self._items(entries, seen, count - len(items))
            cursor = entries[-1][0]
        return items

    async def _claim(self, count: int, seen: set[str]) -> list[OutboxItem]:
        items: list[OutboxItem] = []
        cursor = "0-0"
        for _ in range(_CLAIM_SCANS):
            reply = await self._client.xautoclaim(
                self._stream,
                self._group,
                self._consumer,
                self._claim_idle_ms,
                cursor,
                count - len(items),
            )
            cursor = str(reply[0])
            items += await self._items(_entries(reply[1]), seen, count - len(items))
            if cursor == "0-0" or len(items) >= count:
                break
        return items

    async def _new(self, count: int, wait_s: float) -> list[OutboxItem]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            block_ms = int(min(deadline - loop.time(), _BLOCK_SLICE_S) * 1000)
            reply = await self._client.xreadgroup(
                self._group,
                self._consumer,
                {self._stream: ">"},
                count,
                block_ms if block_ms > 0 else None,
            )
            entries = _entries(reply)
            if entries or block_ms <= 0 or loop.time() >= deadline:
                return await self._items(entries, set(), count)

    async def _items(self, entries: _Entries, seen: set[str], limit: int) -> list[OutboxItem]:
        items: list[OutboxItem] = []
        lost: list[str] = []
        for entry_id, fields in entries:
            if entry_id in seen or len(items) >= limit:
                continue
            seen.add(entry_id)
            if not fields:
                lost.append(entry_id)
                continue
            items.append(OutboxItem(fields["s"], int(fields["q"]), fields["d"], entry_id))
        if lost:
            # Only the MAXLEN safety bound deletes unacknowledged entries.
            log.error("%d outbox entries were trimmed before the transcript stored them", len(lost))
            await self._client.xack(self._stream, self._group, *lost)
        return items

    async def ack(self, items: list[OutboxItem]) -> None:
        receipts = [item.receipt for item in items]
        if not receipts:
            return
        try:
            with _unavailable():
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.xack(self._stream, self._group, *receipts)
                    pipe.xdel(self._stream, *receipts)
                    await pipe.execute()
        finally:
            # Unacknowledged after a failure: handed out again, which at-least-once allows.
            self._in_flight.difference_update(receipts)

    async def release(self, items: list[OutboxItem]) -> None:
        # Still pending to this consumer: the next take re-reads them from the pending list.
        self._in_flight.difference_update(item.receipt for item in items)


async def redis_live_state(
    *,
    url: str,
    prefix: str,
    retention: int,
    idle_ttl_s: int,
    presence_ttl_s: float,
    seed: SeedSource,
    consumer: str,
    claim_idle_s: float = 30.0,
) -> LiveState:
    """Connect to Redis and build the engines on one connection pool.

    ``consumer`` names this process in the outbox's consumer group; what a dead consumer left
    pending is claimed by the others after ``claim_idle_s``. ``log.close()`` closes the pool for
    all three. Raises :class:`LiveStateUnavailable` if Redis cannot be reached.
    """
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
    client = redis.Redis(connection_pool=pool)
    keys = LiveKeys(prefix)
    outbox = RedisOutbox(client, keys, consumer=consumer, claim_idle_s=claim_idle_s)
    try:
        await outbox.create_group()
    except BaseException:
        await client.aclose(close_connection_pool=True)
        raise
    return LiveState(
        log=RedisRoomLog(client, keys, retention=retention, idle_ttl_s=idle_ttl_s, seed=seed),
        presence=RedisPresence(client, keys, ttl_s=presence_ttl_s),
        outbox=outbox,
    )
