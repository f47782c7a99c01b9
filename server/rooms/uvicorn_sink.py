"""The room socket's adapter to uvicorn: uvicorn's WebSocket protocol, made able to close a
socket whose client stopped reading, to take pre-framed room events, and to hold less for an
idle socket; and the :class:`~server.rooms.sink.FrameSink` that writes through it.

This is the only module that leans on uvicorn's protocol internals; what it borrows is pinned
in pyproject.toml and checked by tests/server/rooms/test_uvicorn_adapter_contract.py.

uvicorn waits for the transport to drain before *every* send, the close frame included. A
client that stopped reading never drains it, so the close that tells it "you were too slow"
(4008) would wait forever and the connection would stay open holding its buffers. Here a close
is written straight into the transport buffer, behind the frames already queued there, and if
the client still has not read it after the close timeout the connection is aborted.

Room sockets mostly sit idle, by the thousand, so what each one holds counts: the handshake's
request and response are dropped once accepted, and the receive queue and the writable flag
are leaner than asyncio's (each ``deque`` inside an ``asyncio.Queue`` or ``Event`` is ~760 bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from asyncio import FIRST_COMPLETED, BaseTransport
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Generic, TypeVar

from starlette.websockets import WebSocket, WebSocketDisconnect
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from server.rooms.sink import FRAME_SINK, SocketGone

T = TypeVar("T")


class LeanQueue(Generic[T]):
    """The part of ``asyncio.Queue`` uvicorn uses (unbounded, one reader), in a plain list."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> T:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class LeanEvent:
    """``asyncio.Event`` with its waiters in a list made only when someone waits."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


def text_frame(text: str) -> bytes:
    """A complete, unmasked, uncompressed WebSocket text frame (RFC 6455, section 5.2)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


# A room event goes to every member with the same bytes: framed once, then found here by the
# other members' writers (the event's string is shared, so its hash is computed once).
shared_frame = lru_cache(maxsize=256)(text_frame)


class UvicornSink:
    """Writes already-framed bytes to a room socket, as ``websockets.broadcast`` does.

    The ASGI path frames every message again for every member and goes through several layers
    per frame; a room event is the same bytes for all of them. Only data frames are written
    here: the handshake, pings and the close stay with the protocol.
    """

    __slots__ = ("_protocol", "_websocket")

    def __init__(self, protocol: RoomWebSocketProtocol, websocket: WebSocket) -> None:
        self._protocol = protocol
        self._websocket = websocket

    def write_now(self, frame: str) -> bool:
        # The room's hot path (once per member and event): _write_bytes inlined.
        protocol = self._protocol
        if (
            not protocol.writable.is_set()
            or protocol.disconnected
            or protocol.close_sent
            or protocol.transport.is_closing()
        ):
            return False
        protocol.transport.write(shared_frame(frame))
        return True

    async def write(
        self,
        frames: Sequence[str],
        *,
        shared: bool,
        timeout_s: float,
        abandon: Callable[[], asyncio.Future[None]],
    ) -> None:
        if not frames:
            return
        encode = shared_frame if shared else text_frame
        data = b"".join([encode(frame) for frame in frames])
        protocol = self._protocol
        if not protocol.writable.is_set():
            async with asyncio.timeout(timeout_s):
                given_up = abandon()
                writable = asyncio.ensure_future(protocol.writable.wait())
                try:
                    await asyncio.wait((writable, given_up), return_when=FIRST_COMPLETED)
                finally:
                    writable.cancel()
                if given_up.done():
                    raise SocketGone("the connection is being closed")
        if not self._write_bytes(data):
            raise SocketGone("the socket is closed")

    async def close(self, code: int) -> None:
        protocol = self._protocol
        if protocol.disconnected or protocol.close_sent:
            return  # the server closed it by itself (1009, 1007), or the client is gone
        with contextlib.suppress(WebSocketDisconnect):
            await self._websocket.close(code)

    def _write_bytes(self, data: bytes) -> bool:
        """Write ``data`` if the socket is open and its buffer under the high-water mark."""
        protocol = self._protocol
        if (
            not protocol.writable.is_set()
            or protocol.disconnected
            or protocol.close_sent
            or protocol.transport.is_closing()
        ):
            return False
        protocol.transport.write(data)
        return True


class RoomWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = LeanEvent()  # type: ignore[assignment]
        self.writable.set()

    def connection_made(self, transport: BaseTransport) -> None:
        super().connection_made(transport)
        # Left to itself the kernel grows a socket's send buffer to megabytes, which a client
        # that stopped reading would pin, and which hides it from our own queue limit.
        size = self.app_state.get("ws_send_buffer_bytes")
        sock = transport.get_extra_info("socket")
        if size and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, int(size))

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The application runs from a task that has not started yet: it will find the
        # extension in its scope. Raw frames carry no extension bits, so only without
        # compression (never negotiated: ws_per_message_deflate is off).
        if getattr(self, "scope", None) is not None and not self.conn.extensions:
            extensions: dict[str, Any] = self.scope["extensions"]
            extensions[FRAME_SINK] = self.frame_sink

    def frame_sink(self, websocket: WebSocket) -> UvicornSink:
        """The sink of this socket, for the application's accepted ``websocket`` (a
        :data:`~server.rooms.sink.SinkFactory`)."""
        return UvicornSink(self, websocket)

    async def send(self, message: Any) -> None:
        if (
            message["type"] == "websocket.close"
            and self.handshake_complete
            and not self.writable.is_set()
            and not self.close_sent
        ):
            # Writing is paused only because the peer is not reading; the close frame may still
            # be appended. ``super().send`` does not yield once ``writable`` is set.
            self.writable.set()
            try:
                await super().send(message)
            finally:
                self.writable.clear()
            self.loop.call_later(self.close_timeout, self._abort_if_open)
            return
        await super().send(message)
        if message["type"] == "websocket.accept":
            # Only the handshake needed them; the socket may live for hours. websockets' parser
            # keeps the request as a local for as long, so its headers (the scope has its own
            # copy) are emptied as well.
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]

    def _abort_if_open(self) -> None:
        if not self.transport.is_closing() or self.transport.get_write_buffer_size():
            self.transport.abort()
