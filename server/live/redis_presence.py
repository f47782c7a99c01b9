"""Presence on Redis: connections scored by expiry, changed only by the presence Lua scripts.

Expiry is judged by the Redis server's clock, so processes with skewed clocks agree on it.
"""

from __future__ import annotations

import math

from protocol.events import UserRef
from server.live.keys import LiveKeys
from server.live.redis_client import COMMAND_TIMEOUT_S, Client, load_script, unavailable

# Presence keys outlive the last heartbeat long enough for another process to reap (and
# announce) a dead process's connections; an abandoned room then vanishes.
_PRESENCE_KEY_TTL_MIN_S = 60
_PRESENCE_KEY_TTL_FACTOR = 20


class RedisPresence:
    def __init__(
        self,
        client: Client,
        keys: LiveKeys,
        *,
        ttl_s: float,
        timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._keys = keys
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._key_ttl_s = max(_PRESENCE_KEY_TTL_MIN_S, math.ceil(ttl_s * _PRESENCE_KEY_TTL_FACTOR))
        self._join = load_script(client, "presence_lib.lua", "presence_join.lua")
        self._leave = load_script(client, "presence_lib.lua", "presence_leave.lua")
        self._heartbeat = load_script(client, "presence_lib.lua", "presence_heartbeat.lua")
        self._linger = load_script(client, "presence_lib.lua", "presence_linger.lua")
        self._reap = load_script(client, "presence_lib.lua", "presence_reap.lua")

    def join_args(self, conn_id: str, user: UserRef) -> list[str | int]:
        """The arguments of ``join_connection`` in presence_lib.lua."""
        return [conn_id, user.id, user.model_dump_json(), self._ttl_ms, self._key_ttl_s]

    async def join(self, session_id: int, conn_id: str, user: UserRef) -> bool:
        args = self.join_args(conn_id, user)
        async with unavailable(self._timeout_s):
            first = await self._join(keys=self._keys.presence(session_id), args=args)
        return bool(first)

    async def leave(self, session_id: int, conn_id: str) -> UserRef | None:
        async with unavailable(self._timeout_s):
            user = await self._leave(keys=self._keys.presence(session_id), args=[conn_id])
        return UserRef.model_validate_json(user) if user else None

    async def linger(self, session_id: int, conn_id: str, grace_s: float) -> None:
        args: list[str | int] = [max(0, round(grace_s * 1000)), conn_id]
        async with unavailable(self._timeout_s):
            await self._linger(keys=self._keys.presence(session_id), args=args)

    async def heartbeat(self, session_id: int, conn_ids: list[str]) -> None:
        if not conn_ids:
            return
        args: list[str | int] = [self._ttl_ms, self._key_ttl_s, *conn_ids]
        async with unavailable(self._timeout_s):
            await self._heartbeat(keys=self._keys.presence(session_id), args=args)

    async def reap(self, session_id: int) -> list[UserRef]:
        async with unavailable(self._timeout_s):
            users = await self._reap(keys=self._keys.presence(session_id))
        return [UserRef.model_validate_json(user) for user in users]

    async def members(self, session_id: int) -> list[UserRef]:
        # Expired connections still count: only ``reap`` may drop them, as its caller
        # announces who left.
        async with unavailable(self._timeout_s):
            users = await self._client.hvals(self._keys.presence_users(session_id))
        return sorted((UserRef.model_validate_json(user) for user in users), key=lambda u: u.id)
