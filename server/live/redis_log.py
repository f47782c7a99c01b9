"""The room log on Redis: one stream per session, numbered and published by Lua scripts.

A session's log is a stream whose entry ids are ``<seq>-0``; one script numbers, stores,
queues and publishes each event, so all processes see one gap-free order. Persisted events
also go to the outbox stream (``redis_outbox``).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis

from protocol.events import check_event_body
from protocol.sequence import LogWindow
from server.live.keys import LiveKeys
from server.live.ports import (
    Listener,
    LiveStateUnavailable,
    LoggedEvent,
    SeedSource,
    Subscription,
)
from server.live.redis_client import (
    COMMAND_TIMEOUT_S,
    Client,
    entry_seq,
    load_pipe_script,
    load_script,
    stream_entries,
    unavailable,
)
from server.live.redis_fanout import SIGNAL_MARK, Fanout, Newest
from server.live.redis_pipe import Pipe

# A safety bound, far above what a healthy transcript writer leaves behind.
_OUTBOX_MAXLEN = 1_000_000
# Creating a log and appending to it are two scripts; the log may vanish in between.
_CREATE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class LogSettings:
    """What every script appending to a log is given."""

    retention: int
    idle_ttl_s: int
    outbox_maxlen: int
    # PUBLISH, or SPUBLISH for a Redis Cluster's sharded channels.
    publish: str


class _Fanout(Protocol):
    async def add(self, session_id: int, channel: str, listener: Listener) -> Subscription: ...

    async def close(self) -> None: ...


class RedisRoomLog:
    """Closing it closes the connection pool the presence and outbox share, and runs
    ``on_close`` first (the cluster's outbox readers).

    With a ``pipe``, appends and signals (the commands of every chat and every streamed token)
    go through it rather than through the pool. With ``sharded_fanout`` (a Redis Cluster) frames
    are published with SPUBLISH and read by it; otherwise by pub/sub on the client's pool.
    """

    def __init__(
        self,
        client: Client,
        keys: LiveKeys,
        *,
        retention: int,
        idle_ttl_s: int,
        seed: SeedSource,
        pipe: Pipe | None = None,
        timeout_s: float = COMMAND_TIMEOUT_S,
        sharded_fanout: Callable[[Newest], _Fanout] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._client = client
        self._on_close = on_close
        self._timeout_s = timeout_s
        self._pipe = pipe
        self._keys = keys
        self._retention = retention
        self._idle_ttl_s = idle_ttl_s
        self._seed = seed
        self._append = (
            load_script(client, "log_lib.lua", "log_append.lua")
            if pipe is None
            else load_pipe_script(pipe, "log_lib.lua", "log_append.lua")
        )
        self._create = load_script(client, "log_create.lua")
        self._window = load_script(client, "log_lib.lua", "log_window.lua")
        self._creating: dict[int, asyncio.Task[None]] = {}
        self._fanout: _Fanout
        # On a cluster every script that writes or reads the head fences the log first
        # (fence_log in lua/log_lib.lua): a failover must not hand out a number twice.
        self._fence = int(sharded_fanout is not None)
        if sharded_fanout is not None:
            self._publish = "SPUBLISH"
            self._fanout = sharded_fanout(self._newest)
        else:
            assert isinstance(client, redis.Redis)
            self._publish = "PUBLISH"
            self._fanout = Fanout(client.connection_pool, self._newest)

    async def append(
        self, session_id: int, body: str, *, persist: bool, queue_turn: bool = False
    ) -> LoggedEvent:
        # The script splices seq into the body as protocol's encode_with_seq does.
        check_event_body(body)
        keys = [
            self._keys.meta(session_id),
            self._keys.log(session_id),
            self._keys.outbox_of(session_id),
            self._keys.turns(session_id),
        ]
        args: list[str | int] = [
            body,
            self._retention,
            self._idle_ttl_s,
            int(persist),
            session_id,
            self._keys.channel(session_id),
            _OUTBOX_MAXLEN,
            int(queue_turn),
            self._publish,
        ]
        for _ in range(_CREATE_ATTEMPTS):
            async with unavailable(self._timeout_s):
                reply = await self._append(keys=keys, args=args)
            if reply:
                seq, frame = reply
                return LoggedEvent(int(seq), str(frame))
            await self.ensure_log(session_id)
        raise LiveStateUnavailable(f"the room log of {session_id} keeps disappearing")

    async def signal(self, session_id: int, frame: str) -> None:
        channel, message = self._keys.channel(session_id), SIGNAL_MARK + frame
        async with unavailable(self._timeout_s):
            if self._pipe is None:
                await self._client.execute_command(self._publish, channel, message)
            else:
                await self._pipe.execute(self._publish, channel, message)

    async def window(self, session_id: int) -> LogWindow:
        keys = [self._keys.meta(session_id), self._keys.log(session_id)]
        for _ in range(_CREATE_ATTEMPTS):
            async with unavailable(self._timeout_s):
                reply = await self._window(keys=keys, args=[self._fence])
            if reply:
                epoch, head, first_id = reply
                first_seq = entry_seq(first_id) if first_id else int(head) + 1
                return LogWindow(str(epoch), first_seq, int(head))
            await self.ensure_log(session_id)
        raise LiveStateUnavailable(f"the room log of {session_id} keeps disappearing")

    @property
    def settings(self) -> LogSettings:
        return LogSettings(self._retention, self._idle_ttl_s, _OUTBOX_MAXLEN, self._publish)

    async def ensure_log(self, session_id: int) -> None:
        """Create the session's log (a new epoch, seeded) unless it exists."""
        # One creation per session at a time in this process: each asks the seed source.
        task = self._creating.get(session_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._create_log(session_id))
            self._creating[session_id] = task
            task.add_done_callback(lambda done: self._created(session_id, done))
        await asyncio.shield(task)

    def _created(self, session_id: int, task: asyncio.Task[None]) -> None:
        if self._creating.get(session_id) is task:
            del self._creating[session_id]
        if not task.cancelled():
            # Every waiter may have been cancelled; the error is theirs, not the loop's.
            task.exception()

    async def _create_log(self, session_id: int) -> None:
        head = await self._seed(session_id)
        keys = [self._keys.meta(session_id), self._keys.log(session_id)]
        async with unavailable(self._timeout_s):
            await self._create(
                keys=keys, args=[secrets.token_hex(8), head, self._idle_ttl_s, self._fence]
            )

    async def read(
        self, session_id: int, after_seq: int, limit: int | None = None
    ) -> list[LoggedEvent]:
        if limit is not None and limit <= 0:
            return []
        start = f"{max(after_seq + 1, 0)}-0"
        async with unavailable(self._timeout_s):
            reply = await self._client.xrange(self._keys.log(session_id), start, "+", limit)
        return [
            LoggedEvent(entry_seq(entry_id), fields["d"])
            for entry_id, fields in stream_entries(reply)
        ]

    async def _newest(self, session_id: int) -> LoggedEvent | None:
        reply = await self._client.xrevrange(self._keys.log(session_id), "+", "-", 1)
        for entry_id, fields in stream_entries(reply):
            return LoggedEvent(entry_seq(entry_id), fields["d"])
        return None

    async def subscribe(self, session_id: int, listener: Listener) -> Subscription:
        """Returns once Redis confirmed the subscription: later appends are delivered."""
        return await self._fanout.add(session_id, self._keys.channel(session_id), listener)

    async def ping(self) -> None:
        async with unavailable(self._timeout_s):
            await self._client.ping()

    async def close(self) -> None:
        if self._on_close is not None:
            await self._on_close()
        await self._fanout.close()
        if self._pipe is not None:
            self._pipe.close()
        if isinstance(self._client, redis.Redis):
            await self._client.aclose(close_connection_pool=True)
        else:
            await self._client.aclose()
