"""uvicorn's WebSocket protocol, made able to close a socket whose client stopped reading.

uvicorn waits for the transport to drain before *every* send, the close frame included. A
client that stopped reading never drains it, so the close that tells it "you were too slow"
(4008) would wait forever and the connection would stay open holding its buffers. Here a close
is written straight into the transport buffer, behind the frames already queued there, and if
the client still has not read it after the close timeout the connection is aborted.
"""

from __future__ import annotations

import socket
from asyncio import BaseTransport
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class RoomWebSocketProtocol(WebSocketsSansIOProtocol):
    def connection_made(self, transport: BaseTransport) -> None:
        super().connection_made(transport)
        # Left to itself the kernel grows a socket's send buffer to megabytes, which a client
        # that stopped reading would pin, and which hides it from our own queue limit.
        size = self.app_state.get("ws_send_buffer_bytes")
        sock = transport.get_extra_info("socket")
        if size and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, int(size))

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

    def _abort_if_open(self) -> None:
        if not self.transport.is_closing() or self.transport.get_write_buffer_size():
            self.transport.abort()
