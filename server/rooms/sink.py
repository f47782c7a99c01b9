"""The port a room connection writes its socket through.

A :class:`FrameSink` takes frames that are already encoded JSON text, in order, and the close.
The connection (``server.rooms.connection``) is its only user; an adapter per server implements
it: ``uvicorn_sink`` writes pre-framed bytes straight into uvicorn's transport, ``asgi_sink``
goes through any ASGI server's ``websocket.send``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from starlette.websockets import WebSocket

# The ASGI scope extension under which a server adapter leaves a ``SinkFactory`` for the app.
FRAME_SINK = "studyroom.frame_sink"


class SocketGone(Exception):
    """The socket can take no more frames: the client left, or the server closed it by itself
    (an oversized or malformed client frame: 1009, 1007). Never a server fault."""


class FrameSink(Protocol):
    """Writes one room socket. Frames are written in the order given, each exactly once."""

    def write_now(self, frame: str) -> bool:
        """Write a room event at once, without awaiting, if the socket takes it right now.

        False when it cannot (the client is not reading, or the socket is closing): the frame
        was not written and the caller keeps it for :meth:`write`. ``frame`` goes to other
        members too, so an adapter may cache its encoding. Never raises.
        """
        ...

    async def write(
        self,
        frames: Sequence[str],
        *,
        shared: bool,
        timeout_s: float,
        abandon: Callable[[], asyncio.Future[None]],
    ) -> None:
        """Write ``frames``, waiting while the client is not reading.

        Raises TimeoutError if the client has not taken them within ``timeout_s`` (a slow
        consumer), and :class:`SocketGone` if the socket closed, or if the future ``abandon()``
        gives ends first (the connection is being closed anyway; asked for only when the write
        has to wait). ``shared`` frames go to other members too (see :meth:`write_now`).
        """
        ...

    async def close(self, code: int) -> None:
        """Close the socket with ``code``; does nothing on a socket that is closed already,
        and never waits for a client that is not reading."""
        ...


# Given the accepted WebSocket of a room, the sink that writes it.
SinkFactory = Callable[[WebSocket], FrameSink]
