"""A client that breaks the protocol is closed for what it did, never as a server fault.

When a frame is over the size limit, the server's WebSocket layer closes the socket with 1009
by itself; the room's writer may be sending an event at that very moment. That collision is the
client leaving, not a fault: no socket may be counted as closed with 1011.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import websockets

from tests.support import RoomKit

ATTEMPTS = 30


async def test_oversized_frames_amid_a_busy_room_are_never_a_server_fault(
    make_server: Any, make_kit: Any
) -> None:
    server = await make_server(
        max_frame_bytes=4096, rate_limit_per_s=100_000, rate_limit_burst=100_000
    )
    kit: RoomKit = make_kit(server.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    busy = await kit.connect(bob, session)

    async def chatter() -> None:
        sent = 0
        while True:
            await busy.send({"type": "chat", "text": f"line {sent}"})
            sent += 1
            await asyncio.sleep(0)

    async def read_all() -> None:
        async for _ in busy.ws:
            pass

    tasks = [asyncio.create_task(chatter()), asyncio.create_task(read_all())]
    try:
        for _ in range(ATTEMPTS):
            conn = await kit.connect(alice, session)
            # Let the room's events reach this socket, so the writer is busy when it closes.
            await conn.until(lambda f: f.get("type") == "chat")
            await conn.send("x" * 5000)
            assert await conn.closed_with() == 1009
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await asyncio.gather(*tasks)
    metrics = (await kit.http.get("/metrics")).text
    closed = dict(re.findall(r'studyroom_ws_closed_total\{code="(\d+)"\} (\S+)', metrics))
    assert float(closed.get("1011", 0)) == 0, closed
