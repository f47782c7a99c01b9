"""Pick the live-state engine from ``STUDYROOM_REDIS_URL``; drivers load only when used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.config import Settings
from server.live.ports import LiveState, SeedSource

if TYPE_CHECKING:
    from server.live.redis_client import RedisLimits


async def build_live_state(settings: Settings, *, seed: SeedSource, consumer: str) -> LiveState:
    """``memory://`` → the in-process engine; ``redis://``/``rediss://``/``unix://`` → Redis;
    ``redis+cluster://``/``rediss+cluster://`` → a Redis Cluster."""
    url = settings.redis_url
    if url.startswith("memory://"):
        from server.live.memory import memory_live_state

        return memory_live_state(
            retention=settings.room_log_retention,
            presence_ttl_s=settings.presence_ttl_s,
            seed=seed,
            idle_ttl_s=settings.room_log_idle_ttl_s,
            gate_ttl_s=settings.room_gate_ttl_s,
        )
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        from server.live.redis_engine import redis_cluster_live_state

        return await redis_cluster_live_state(
            url=url,
            prefix=settings.redis_prefix,
            retention=settings.room_log_retention,
            idle_ttl_s=settings.room_log_idle_ttl_s,
            presence_ttl_s=settings.presence_ttl_s,
            seed=seed,
            consumer=consumer,
            claim_idle_s=settings.transcript_claim_idle_s,
            gate_ttl_s=settings.room_gate_ttl_s,
            partitions=settings.redis_cluster_partitions,
            limits=_limits(settings),
        )
    if url.startswith(("redis://", "rediss://", "unix://")):
        from server.live.redis_engine import redis_live_state

        return await redis_live_state(
            url=url,
            prefix=settings.redis_prefix,
            retention=settings.room_log_retention,
            idle_ttl_s=settings.room_log_idle_ttl_s,
            presence_ttl_s=settings.presence_ttl_s,
            seed=seed,
            consumer=consumer,
            claim_idle_s=settings.transcript_claim_idle_s,
            gate_ttl_s=settings.room_gate_ttl_s,
            limits=_limits(settings),
        )
    raise ValueError(
        f"STUDYROOM_REDIS_URL must be memory://, redis://… or redis+cluster://…, not {url!r}"
    )


def _limits(settings: Settings) -> RedisLimits:
    from server.live.redis_client import RedisLimits

    return RedisLimits(
        connect_timeout_s=settings.redis_connect_timeout_s,
        command_timeout_s=settings.redis_command_timeout_s,
        health_check_s=settings.redis_health_check_s,
        max_connections=settings.redis_max_connections,
    )
