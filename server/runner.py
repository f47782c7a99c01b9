"""How a studyroom process runs under uvicorn: one configuration for the CLI and the tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn

from server.config import Settings

WS_PROTOCOL = "server.rooms.uvicorn_sink:RoomWebSocketProtocol"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "ws": WS_PROTOCOL,
        "ws_max_size": settings.max_frame_bytes,
        # Our own heartbeat (ping frames, presence TTL) decides liveness; the protocol-level
        # ping stays on so half-open TCP connections are noticed too.
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "ws_per_message_deflate": False,
        "lifespan": "on",
        "proxy_headers": True,
        "timeout_graceful_shutdown": 10,
    }


class _GuestServer(uvicorn.Server):
    """A server living inside another program's loop; signals stay with that program."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def start_in_process(
    settings: Settings, *, ws: str = WS_PROTOCOL
) -> tuple[int, Callable[[], Awaitable[None]]]:
    """Serve on a free loopback port in the running loop; returns the port and a stopper.

    ``ws`` is uvicorn's WebSocket implementation: ours by default; any other serves room
    sockets through the ASGI path (server.rooms.asgi_sink).
    """
    from server.app import create_app

    options = {**uvicorn_options(settings), "ws": ws}
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", **options
    )
    server = _GuestServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        await asyncio.sleep(0.01)
    port: int = server.servers[0].sockets[0].getsockname()[1]

    async def stop() -> None:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)

    return port, stop
