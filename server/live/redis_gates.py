"""Session gates on Redis: one hash per session, read with one HMGET per join (through the
pipelined connection when there is one, as the join's other command is).

Every write sets its fields and ``EXPIRE … NX``: the gate lives one TTL from its first fact
however often it is written, so a fact whose write-through failed is read again from the
database within a TTL. A fill uses ``HSETNX``, so it never replaces a fact written through.
"""

from __future__ import annotations

from server.live.keys import LiveKeys
from server.live.ports import Gate, GateCheck
from server.live.redis_client import COMMAND_TIMEOUT_S, Client, unavailable
from server.live.redis_pipe import Pipe


class RedisSessionGates:
    def __init__(
        self,
        client: Client,
        keys: LiveKeys,
        *,
        ttl_s: int,
        pipe: Pipe | None = None,
        timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        self._client = client
        self._pipe = pipe
        self._keys = keys
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s

    async def check(self, session_id: int, user_id: int) -> GateCheck | None:
        key = self._keys.gate(session_id)
        fields = ("ended", "topic", f"removed:{user_id}")
        async with unavailable(self._timeout_s):
            if self._pipe is None:
                ended, topic, removed = await self._client.hmget(key, fields)
            else:
                ended, topic, removed = await self._pipe.execute("HMGET", key, *fields)
        if ended is None or topic is None:
            return None
        return GateCheck(Gate(ended == "1", str(topic)), removed is not None)

    async def fill(self, session_id: int, gate: Gate) -> None:
        key = self._keys.gate(session_id)
        async with unavailable(self._timeout_s), self._client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "ended", "1" if gate.ended else "0")
            pipe.hsetnx(key, "topic", gate.topic)
            pipe.expire(key, self._ttl_s, nx=True)
            await pipe.execute()

    async def end(self, session_id: int) -> None:
        await self._write(session_id, "ended", "1")

    async def set_topic(self, session_id: int, topic: str) -> None:
        await self._write(session_id, "topic", topic)

    async def remove_member(self, session_id: int, user_id: int) -> None:
        await self._write(session_id, f"removed:{user_id}", "1")

    async def restore_member(self, session_id: int, user_id: int) -> None:
        key = self._keys.gate(session_id)
        async with unavailable(self._timeout_s):
            await self._client.hdel(key, f"removed:{user_id}")

    async def _write(self, session_id: int, field: str, value: str) -> None:
        key = self._keys.gate(session_id)
        async with unavailable(self._timeout_s), self._client.pipeline(transaction=True) as pipe:
            pipe.hset(key, field, value)
            pipe.expire(key, self._ttl_s, nx=True)
            await pipe.execute()
