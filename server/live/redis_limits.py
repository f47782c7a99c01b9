"""Ask buckets and token budgets on Redis (see ``TutorLimits``).

A bucket is refilled and spent by one Lua script, so processes never spend a token twice; a
budget is one integer incremented with its expiry in one transaction, or reserved against a
ceiling by one script. Each call touches one
key, so user and session counters may live on different Redis Cluster slots.
"""

from __future__ import annotations

from server.live.keys import LiveKeys
from server.live.ports import AskBucket, SessionTokens, TokenBudget, UserAsks
from server.live.redis_client import COMMAND_TIMEOUT_S, Client, load_script, unavailable

# A day's budget is kept through the next day too, for processes whose clocks disagree.
_DAY_BUDGET_TTL_S = 2 * 24 * 3600


class RedisTutorLimits:
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
        self._take = load_script(client, "limits_take.lua")
        self._reserve = load_script(client, "limits_reserve.lua")

    async def take(self, bucket: AskBucket, now: float, rate_per_s: float, burst: int) -> bool:
        return await self._spend(bucket, now, rate_per_s, burst, 1)

    async def give_back(self, bucket: AskBucket, now: float, rate_per_s: float, burst: int) -> None:
        await self._spend(bucket, now, rate_per_s, burst, -1)

    async def _spend(
        self, bucket: AskBucket, now: float, rate_per_s: float, burst: int, cost: int
    ) -> bool:
        key = (
            self._keys.user_asks(bucket.user_id)
            if isinstance(bucket, UserAsks)
            else self._keys.session_asks(bucket.session_id)
        )
        async with unavailable(self._timeout_s):
            taken = await self._take(keys=[key], args=[repr(now), repr(rate_per_s), burst, cost])
        return bool(taken)

    async def spent(self, budget: TokenBudget) -> int:
        async with unavailable(self._timeout_s):
            value = await self._client.get(self._budget_key(budget))
        return 0 if value is None else int(value)

    async def charge(self, budget: TokenBudget, tokens: int) -> int:
        key = self._budget_key(budget)
        ttl = self._ttl(budget)
        async with unavailable(self._timeout_s), self._client.pipeline(transaction=True) as pipe:
            pipe.incrby(key, tokens)
            pipe.expire(key, ttl)
            total, _ = await pipe.execute()
        return int(total)

    async def reserve(self, budget: TokenBudget, tokens: int, ceiling: int) -> bool:
        keys = [self._budget_key(budget)]
        async with unavailable(self._timeout_s):
            reserved = await self._reserve(keys=keys, args=[tokens, ceiling, self._ttl(budget)])
        return bool(reserved)

    def _ttl(self, budget: TokenBudget) -> int:
        return self._idle_ttl_s if isinstance(budget, SessionTokens) else _DAY_BUDGET_TTL_S

    def _budget_key(self, budget: TokenBudget) -> str:
        if isinstance(budget, SessionTokens):
            return self._keys.session_tokens(budget.session_id)
        return self._keys.user_tokens(budget.user_id, budget.day)
