"""Revoked access tokens in process memory: each kept until its token would have expired."""

from __future__ import annotations

import time


class MemoryTokenRevocations:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    async def revoke(self, token_id: str, ttl_s: int) -> None:
        self._prune()
        self._until[token_id] = time.monotonic() + ttl_s

    async def revoked(self, token_id: str) -> bool:
        until = self._until.get(token_id)
        return until is not None and until > time.monotonic()

    def _prune(self) -> None:
        now = time.monotonic()
        for token_id in [t for t, until in self._until.items() if until <= now]:
            del self._until[token_id]
