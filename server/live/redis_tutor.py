"""The tutor's shared state on Redis: asks, lease, cancels, quizzes (see ``TutorState``)."""

from __future__ import annotations

from server.live.keys import LiveKeys
from server.live.ports import LoggedEvent
from server.live.redis_client import COMMAND_TIMEOUT_S, Client, unavailable

# Compare-and-act on the lease: only its holder may extend or drop it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# Removing an ask and its start mark together: the next lease holder must never see a mark
# without its ask (it would report a finished turn as interrupted).
_REMOVE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return 1
"""


class RedisTutorState:
    def __init__(
        self,
        client: Client,
        keys: LiveKeys,
        *,
        idle_ttl_s: int,
        timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._keys = keys
        self._idle_ttl_s = idle_ttl_s
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._remove = client.register_script(_REMOVE)

    async def head(self, session_id: int) -> LoggedEvent | None:
        async with unavailable(self._timeout_s):
            reply = await self._client.zrange(self._keys.turns(session_id), 0, 0, withscores=True)
        if not reply:
            return None
        frame, score = reply[0][0], reply[0][1]
        data = frame.decode() if isinstance(frame, bytes) else str(frame)
        return LoggedEvent(int(score), data)

    async def remove(self, session_id: int, seq: int) -> None:
        keys = [self._keys.turns(session_id), self._keys.turn_started(session_id)]
        async with unavailable(self._timeout_s):
            await self._remove(keys=keys, args=[seq])

    async def acquire(self, session_id: int, owner: str, ttl_s: float) -> bool:
        key = self._keys.tutor_lease(session_id)
        async with unavailable(self._timeout_s):
            if await self._client.set(key, owner, nx=True, px=_ms(ttl_s)):
                return True
            return await self.renew(session_id, owner, ttl_s)

    async def renew(self, session_id: int, owner: str, ttl_s: float) -> bool:
        async with unavailable(self._timeout_s):
            done = await self._renew(
                keys=[self._keys.tutor_lease(session_id)], args=[owner, _ms(ttl_s)]
            )
        return bool(done)

    async def release(self, session_id: int, owner: str) -> None:
        async with unavailable(self._timeout_s):
            await self._release(keys=[self._keys.tutor_lease(session_id)], args=[owner])

    async def mark_started(self, session_id: int, seq: int) -> None:
        async with unavailable(self._timeout_s):
            await self._client.set(self._keys.turn_started(session_id), seq, ex=self._idle_ttl_s)

    async def started(self, session_id: int) -> int | None:
        async with unavailable(self._timeout_s):
            value = await self._client.get(self._keys.turn_started(session_id))
        return None if value is None else int(value)

    async def request_cancel(self, session_id: int, turn_id: str) -> None:
        async with unavailable(self._timeout_s):
            await self._client.set(self._keys.turn_cancel(session_id, turn_id), 1, ex=3600)

    async def cancel_requested(self, session_id: int, turn_id: str) -> bool:
        async with unavailable(self._timeout_s):
            return bool(await self._client.exists(self._keys.turn_cancel(session_id, turn_id)))

    async def put_quiz(self, session_id: int, quiz_id: str, key: str) -> None:
        async with unavailable(self._timeout_s):
            await self._client.hset(self._keys.quizzes(session_id), quiz_id, key)
            await self._client.expire(self._keys.quizzes(session_id), self._idle_ttl_s)

    async def get_quiz(self, session_id: int, quiz_id: str) -> str | None:
        async with unavailable(self._timeout_s):
            value = await self._client.hget(self._keys.quizzes(session_id), quiz_id)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def claim_answer(self, session_id: int, quiz_id: str, user_id: int, choice: int) -> bool:
        key = self._keys.quiz_answers(session_id)
        # HSETNX is the atomic first-writer-wins; one transaction with the expiry, so no claim
        # outlives the session's quizzes.
        async with unavailable(self._timeout_s), self._client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, f"{quiz_id}:{user_id}", choice)
            pipe.expire(key, self._idle_ttl_s)
            first, _ = await pipe.execute()
        return bool(first)

    async def put_card(self, session_id: int, card_id: str, card: str) -> None:
        key = self._keys.cards(session_id)
        async with unavailable(self._timeout_s), self._client.pipeline(transaction=True) as pipe:
            pipe.hset(key, card_id, card)
            pipe.expire(key, self._idle_ttl_s)
            await pipe.execute()

    async def get_card(self, session_id: int, card_id: str) -> str | None:
        async with unavailable(self._timeout_s):
            value = await self._client.hget(self._keys.cards(session_id), card_id)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
