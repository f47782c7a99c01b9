"""The room socket's sink on any ASGI server: frames go out one by one as ``websocket.send``.

Used when the server did not provide its own sink (see ``uvicorn_sink``): nothing is written
without awaiting, so the room queues every frame for the connection's writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from server.rooms.sink import SocketGone


class AsgiSink:
    """A :class:`~server.rooms.sink.FrameSink` over an accepted starlette ``WebSocket``."""

    __slots__ = ("_websocket",)

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    def write_now(self, frame: str) -> bool:
        return False

    async def write(
        self,
        frames: Sequence[str],
        *,
        shared: bool,
        timeout_s: float,
        abandon: Callable[[], asyncio.Future[None]],
    ) -> None:
        websocket = self._websocket
        for frame in frames:
            if not self._open():
                raise SocketGone("the socket is closed")
            try:
                async with asyncio.timeout(timeout_s):
                    await websocket.send_text(frame)
            except (WebSocketDisconnect, OSError) as exc:
                raise SocketGone("the client is gone") from exc
            except RuntimeError as exc:
                # A server may close a socket by itself (an oversized or malformed client
                # frame) and refuse sends before the application has heard of it.
                if await self._refused_as_closed():
                    raise SocketGone("the server closed the socket") from exc
                raise

    async def close(self, code: int) -> None:
        if not self._open():
            return
        try:
            await self._websocket.close(code)
        except WebSocketDisconnect:
            return
        except RuntimeError:
            if not await self._refused_as_closed():
                raise

    def _open(self) -> bool:
        """Whether both sides of the socket are still open, as starlette has seen them."""
        websocket = self._websocket
        return (
            websocket.application_state is WebSocketState.CONNECTED
            and websocket.client_state is WebSocketState.CONNECTED
        )

    async def _refused_as_closed(self) -> bool:
        """Whether a send the server refused was refused because the socket is closed.

        The disconnect the server queued for the application's reader is seen once the
        reader has run, so the loop is given one turn first.
        """
        await asyncio.sleep(0)
        return not self._open()
