"""python-socketio the documented way: ``AsyncServer`` + ``AsyncRedisManager`` on uvicorn.

A client emits ``join`` (with an ack) to enter a room with ``enter_room``, then ``chat``
events; each chat is emitted to the room, which goes through Redis pub/sub to every process
(this one included) and from there to the local members.

    python -m bench.peers.socketio_server --port 9003 --redis redis://127.0.0.1:6379/13
"""

from __future__ import annotations

import argparse
import contextlib

import socketio  # type: ignore[import-untyped]
import uvicorn


def build(redis_url: str, channel: str) -> socketio.ASGIApp:
    manager = socketio.AsyncRedisManager(redis_url, channel=channel)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager)
    room_of: dict[str, str] = {}

    async def join(sid: str, room: str) -> str:
        await sio.enter_room(sid, room)
        room_of[sid] = room
        return "ok"

    async def chat(sid: str, text: str) -> None:
        room = room_of.get(sid)
        if room is not None:
            await sio.emit("chat", text, room=room)

    async def disconnect(sid: str, *args: object) -> None:
        room_of.pop(sid, None)

    sio.on("join", join)
    sio.on("chat", chat)
    sio.on("disconnect", disconnect)
    return socketio.ASGIApp(sio)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True, help="redis://host:port/db")
    parser.add_argument("--channel", default="bench-socketio")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(
            build(args.redis, args.channel),
            host="127.0.0.1",
            port=args.port,
            loop="uvloop",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            log_level="warning",
            access_log=False,
        )
