"""One pipelined Redis connection for the commands every chat pays for.

Each room event is one ``EVALSHA`` (see ``redis_log``). Through redis-py's pool a command costs
about three times the CPU of the round trip itself: a connection checked out and back, its
health checked, the command packed and the reply parsed in several layers. Here commands from
every coroutine are written to one socket as they come and their replies matched in order by
hiredis, as a pipeline that never ends: a command costs one write and one parse.

Cancelling a caller (a timeout) does not disturb the others: its reply is still read, in its
place, and dropped. A lost connection fails every command waiting on it with the driver's
``ConnectionError``; the next command connects again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

_CONNECT_TIMEOUT_S = 2.0
# URL schemes this connection speaks; TLS (``rediss://``) stays with redis-py.
_SCHEMES = frozenset({"redis", "unix"})


def pipe_supports(url: str) -> bool:
    return urlsplit(url).scheme in _SCHEMES


class Pipe(Protocol):
    """What the engines ask of a pipelined connection: :class:`RedisPipe` on one Redis, one per
    master on a cluster (``redis_cluster_pipe``)."""

    async def execute(self, *args: str | int | float) -> Any:
        """Run a command whose first argument after its name is the key it touches."""
        ...

    async def evalsha(self, script: PipeScript, keys: list[str], args: list[str | int]) -> Any:
        """Run a script by its SHA1, loading it first where the server does not know it."""
        ...

    def close(self) -> None: ...


class _Replies(asyncio.Protocol):
    """The socket's protocol: writes commands, hands each reply to the oldest waiter."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader(encoding="utf-8", replyError=ResponseError)
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._transport: asyncio.Transport | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as asyncio.Transport, though they are ones.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                waiter = self._waiting.popleft()
                if waiter.done():
                    continue  # its caller gave up; the reply only had to be read past
                if isinstance(reply, ResponseError):
                    waiter.set_exception(reply)
                else:
                    waiter.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:
            # Replies no longer line up with commands: nothing read from here on is trusted.
            self.lost = RedisConnectionError(f"Redis protocol error: {exc}")
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            self.lost = RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}")
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(self.lost)

    def call(self, args: tuple[str | int | float, ...]) -> asyncio.Future[Any]:
        if self.lost is not None:
            raise self.lost
        assert self._transport is not None
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        # hiredis's stub types the argument as a 1-tuple; it takes any number of arguments.
        self._transport.write(hiredis.pack_command(cast(Any, args)))
        return waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class RedisPipe:
    """Commands over one shared connection, opened on first use and again after a loss.

    Only for ``redis://`` and ``unix://`` URLs (see :func:`pipe_supports`). Raises the driver's
    ``ConnectionError`` when Redis cannot be reached and ``ResponseError`` for error replies,
    so callers map failures exactly as they do redis-py's.
    """

    def __init__(self, url: str, connect_timeout_s: float = _CONNECT_TIMEOUT_S) -> None:
        self._options = parse_url(url)
        self._connect_timeout_s = connect_timeout_s
        self._replies: _Replies | None = None
        self._connecting = asyncio.Lock()

    async def execute(self, *args: str | int | float) -> Any:
        replies = self._replies
        if replies is None or replies.lost is not None:
            replies = await self._connect()
        return await replies.call(args)

    async def execute_asking(self, *args: str | int | float) -> Any:
        """``ASKING`` then the command, back to back on the connection, as a Redis Cluster node
        wants a command sent to it after another answered ``ASK``; the command's reply."""
        replies = self._replies
        if replies is None or replies.lost is not None:
            replies = await self._connect()
        # Both written in this one step: nothing of another caller's can come between them.
        asking = replies.call(("ASKING",))
        reply = replies.call(args)
        try:
            await asking
        except BaseException:
            reply.cancel()  # its reply is still read past, in its place
            raise
        return await reply

    async def evalsha(self, script: PipeScript, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        # A restarted or flushed Redis forgot the script: EVAL runs it and caches it again.
        return await self.execute("EVAL", script.source, len(keys), *keys, *args)

    async def _connect(self) -> _Replies:
        async with self._connecting:
            if self._replies is not None and self._replies.lost is None:
                return self._replies
            if self._replies is not None:
                self._replies.close()
                self._replies = None
            self._replies = await self._open()
            return self._replies

    async def _open(self) -> _Replies:
        options = self._options
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                if "path" in options:
                    transport, replies = await loop.create_unix_connection(
                        _Replies, options["path"]
                    )
                else:
                    transport, replies = await loop.create_connection(
                        _Replies, options.get("host", "localhost"), options.get("port", 6379)
                    )
                # uvloop calls connection_made only on a later turn of the loop.
                replies.connection_made(transport)
                try:
                    if options.get("password"):
                        credentials = [options.get("username"), options["password"]]
                        await replies.call(("AUTH", *(c for c in credentials if c)))
                    if options.get("db"):
                        await replies.call(("SELECT", int(options["db"])))
                except BaseException:
                    replies.close()
                    raise
        except TimeoutError as exc:
            raise RedisConnectionError("timed out connecting to Redis") from exc
        return replies

    def close(self) -> None:
        if self._replies is not None:
            self._replies.close()
            self._replies = None


class PipeScript:
    """A Lua script run through a :class:`RedisPipe` by its SHA1, loaded on demand; called
    like redis-py's scripts."""

    __slots__ = ("_pipe", "sha", "source")

    def __init__(self, pipe: Pipe, source: str) -> None:
        self._pipe = pipe
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, keys: list[str], args: list[str | int]) -> Any:
        return await self._pipe.evalsha(self, keys, args)
