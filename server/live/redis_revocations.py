"""Revoked access tokens on Redis: one key per token, expiring with it."""

from __future__ import annotations

from server.live.keys import LiveKeys
from server.live.redis_client import COMMAND_TIMEOUT_S, Client, unavailable


class RedisTokenRevocations:
    def __init__(
        self, client: Client, keys: LiveKeys, *, timeout_s: float = COMMAND_TIMEOUT_S
    ) -> None:
        self._client = client
        self._keys = keys
        self._timeout_s = timeout_s

    async def revoke(self, token_id: str, ttl_s: int) -> None:
        async with unavailable(self._timeout_s):
            await self._client.set(self._keys.revoked_token(token_id), "1", ex=max(1, ttl_s))

    async def revoked(self, token_id: str) -> bool:
        async with unavailable(self._timeout_s):
            return bool(await self._client.exists(self._keys.revoked_token(token_id)))
