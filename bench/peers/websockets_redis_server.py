"""The floor for a Redis-backed room server: python-websockets, Redis pub/sub, nothing else.

``ws://host:port/<room>``: every text frame a member sends is published, untouched, to the
room's Redis channel; whatever the process's subscription yields is handed to
``websockets.broadcast()`` for the room's local members. No parsing, no validation, no
ordering, no history: any real design does more, so it can only be slower than this. Once a
member is in its room (the room's channel subscribed) it gets one frame, ``HELLO``, so a
client can time a join to its first frame as it does studyroom's ``welcome``.

    python -m bench.peers.websockets_redis_server --port 9001 --redis redis://127.0.0.1:6379/13
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import redis.asyncio as redis
import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

HELLO = '{"type":"hello"}'
# uvicorn's default, which studyroom and the uvicorn-based peers listen with: websockets'
# (asyncio's) default of 100 would drop the SYNs of a reconnect storm that the others queue.
BACKLOG = 2048


class Rooms:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._local: dict[str, set[ServerConnection]] = {}
        self._channel_room: dict[str, str] = {}
        self._subscribing = asyncio.Lock()

    async def start(self) -> None:
        # Opens the subscription's connection before any member can race to do it.
        await self._pubsub.subscribe(f"{self._prefix}:_")

    async def handle(self, ws: ServerConnection) -> None:
        room = ws.request.path.strip("/") if ws.request is not None else ""
        if not room:
            await ws.close(1008, "the room goes in the path")
            return
        channel = f"{self._prefix}:{room}"
        members = self._local.get(room)
        if members is None:
            members = self._local[room] = set()
            self._channel_room[channel] = room
            async with self._subscribing:
                await self._pubsub.subscribe(channel)
        members.add(ws)
        publish = self._client.publish
        try:
            await ws.send(HELLO)
            async for frame in ws:
                await publish(channel, frame)
        finally:
            members.discard(ws)

    async def relay(self) -> None:
        async for message in self._pubsub.listen():
            if message["type"] != "message":
                continue
            room = self._channel_room.get(message["channel"])
            if room is not None:
                broadcast(self._local.get(room, ()), message["data"])


async def main(port: int, redis_url: str, prefix: str) -> None:
    # A blocking pool: a burst of publishes waits for a connection instead of failing with
    # "Too many connections" (redis-py's default pool stops at 100).
    pool = redis.BlockingConnectionPool.from_url(
        redis_url, decode_responses=True, max_connections=100, timeout=None
    )
    client = redis.Redis(connection_pool=pool)
    rooms = Rooms(client, prefix)
    await rooms.start()
    relay = asyncio.create_task(rooms.relay())
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        rooms.handle,
        "127.0.0.1",
        port,
        compression=None,
        max_size=64 * 1024,
        ping_interval=20,
        backlog=BACKLOG,
    ):
        await stop
    relay.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await relay
    await client.aclose(close_connection_pool=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True, help="redis://host:port/db")
    parser.add_argument("--prefix", default="bench", help="channel name prefix")
    args = parser.parse_args()
    uvloop.run(main(args.port, args.redis, args.prefix))
