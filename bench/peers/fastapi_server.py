"""The naive in-process room: a FastAPI WebSocket endpoint awaiting one send per member.

``ws://host:port/ws/<room>``: every text frame a member sends is sent, as it came, to each
member of the room in turn (``await websocket.send_text`` in a loop). No Redis, so one process
only; a slow member holds up the room, which is the design's known flaw.

    python -m bench.peers.fastapi_server --port 9002
"""

from __future__ import annotations

import argparse
import contextlib

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
rooms: dict[str, set[WebSocket]] = {}


@app.websocket("/ws/{room}")
async def room_socket(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    members = rooms.setdefault(room, set())
    members.add(websocket)
    try:
        while True:
            text = await websocket.receive_text()
            for member in tuple(members):
                try:
                    await member.send_text(text)
                except (WebSocketDisconnect, RuntimeError):
                    members.discard(member)
    except WebSocketDisconnect:
        pass
    finally:
        members.discard(websocket)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=args.port,
            loop="uvloop",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            log_level="warning",
            access_log=False,
        )
