"""The Redis engine (``redis://``): live state shared by every process of a deployment.

Its parts, one concept each: ``redis_log`` (the numbered room log, Lua-scripted),
``redis_fanout`` (pub/sub delivery to subscribers), ``redis_presence``, ``redis_outbox`` (the
transcript's consumer group), ``redis_tutor`` and ``redis_limits`` (the tutor's queue and its
admission counters) and ``redis_client`` (the pool and error mapping they share).
Redis being unreachable surfaces as :class:`LiveStateUnavailable`, never as a driver error.
"""

from __future__ import annotations

from server.live.keys import LiveKeys
from server.live.ports import LiveState, SeedSource, TranscriptOutbox
from server.live.redis_client import (
    Client,
    ClusterAddress,
    RedisLimits,
    connect,
    connect_cluster,
    unavailable,
)
from server.live.redis_cluster_pipe import ClusterPipe
from server.live.redis_door import RedisRoomDoor
from server.live.redis_gates import RedisSessionGates
from server.live.redis_limits import RedisTutorLimits
from server.live.redis_log import RedisRoomLog
from server.live.redis_outbox import RedisOutbox
from server.live.redis_partitioned_outbox import PartitionedOutbox
from server.live.redis_pipe import Pipe, RedisPipe, pipe_supports
from server.live.redis_presence import RedisPresence
from server.live.redis_revocations import RedisTokenRevocations
from server.live.redis_sharded_fanout import ShardedFanout
from server.live.redis_tutor import RedisTutorState

__all__ = [
    "RedisOutbox",
    "RedisPresence",
    "RedisRoomLog",
    "RedisSessionGates",
    "RedisTutorLimits",
    "RedisTutorState",
    "redis_cluster_live_state",
    "redis_live_state",
]

# Outbox partitions on a Redis Cluster unless told otherwise (``redis_cluster_partitions``):
# two per master of the usual three. Each costs every process a read in flight and its own
# batches; at 16 the fan-out benchmark measured more CPU per delivery and 130-150 ms stalls.
CLUSTER_PARTITIONS = 6


async def redis_live_state(
    *,
    url: str,
    prefix: str,
    retention: int,
    idle_ttl_s: int,
    presence_ttl_s: float,
    seed: SeedSource,
    consumer: str,
    claim_idle_s: float = 30.0,
    gate_ttl_s: int = 300,
    limits: RedisLimits | None = None,
) -> LiveState:
    """Connect to Redis and build the engines on one connection pool.

    ``consumer`` names this process in the outbox's consumer group; what a dead consumer left
    pending is claimed by the others after ``claim_idle_s``. ``log.close()`` closes the pool for
    all three. Raises :class:`LiveStateUnavailable` if Redis cannot be reached.
    """
    limits = limits or RedisLimits()
    timeout_s = limits.command_timeout_s
    client = connect(url, limits)
    keys = LiveKeys(prefix)
    outbox = RedisOutbox(
        client, keys, consumer=consumer, claim_idle_s=claim_idle_s, timeout_s=timeout_s
    )
    try:
        await outbox.create_group()
    except BaseException:
        await client.aclose(close_connection_pool=True)
        raise
    # The commands of every chat and every join share one pipelined connection.
    pipe = RedisPipe(url, limits.connect_timeout_s) if pipe_supports(url) else None
    log = RedisRoomLog(
        client,
        keys,
        retention=retention,
        idle_ttl_s=idle_ttl_s,
        seed=seed,
        pipe=pipe,
        timeout_s=timeout_s,
    )
    return _engines(
        client,
        keys,
        log=log,
        outbox=outbox,
        pipe=pipe,
        presence_ttl_s=presence_ttl_s,
        idle_ttl_s=idle_ttl_s,
        gate_ttl_s=gate_ttl_s,
        timeout_s=timeout_s,
    )


async def redis_cluster_live_state(
    *,
    url: str,
    prefix: str,
    retention: int,
    idle_ttl_s: int,
    presence_ttl_s: float,
    seed: SeedSource,
    consumer: str,
    claim_idle_s: float = 30.0,
    gate_ttl_s: int = 300,
    partitions: int = CLUSTER_PARTITIONS,
    limits: RedisLimits | None = None,
) -> LiveState:
    """The same engines on a Redis Cluster (``redis+cluster://``): keys tagged by partition,
    fan-out over sharded pub/sub, the outbox in ``partitions`` streams (see ``keys``).

    Every script touches the keys of one session, so one slot. Raises
    :class:`LiveStateUnavailable` if no seed node answers.
    """
    limits = limits or RedisLimits()
    timeout_s = limits.command_timeout_s
    client = connect_cluster(url, limits)
    keys = LiveKeys(prefix, partitions)
    outbox = PartitionedOutbox(
        [
            RedisOutbox(
                client,
                keys,
                consumer=consumer,
                claim_idle_s=claim_idle_s,
                timeout_s=timeout_s,
                stream=stream,
            )
            for stream in keys.outboxes
        ]
    )
    try:
        async with unavailable(timeout_s):
            await client.initialize()
        await outbox.create_group()
    except BaseException:
        await client.aclose()
        raise
    address = ClusterAddress.parse(url)
    # As on one Redis, the commands of every chat and every join go pipelined, to each master.
    pipe = None if address.tls else ClusterPipe(client, address, limits.connect_timeout_s)
    log = RedisRoomLog(
        client,
        keys,
        retention=retention,
        idle_ttl_s=idle_ttl_s,
        seed=seed,
        pipe=pipe,
        timeout_s=timeout_s,
        sharded_fanout=lambda newest: ShardedFanout(
            client, address, newest, connect_timeout_s=limits.connect_timeout_s
        ),
        on_close=outbox.close,
    )
    return _engines(
        client,
        keys,
        log=log,
        outbox=outbox,
        pipe=pipe,
        presence_ttl_s=presence_ttl_s,
        idle_ttl_s=idle_ttl_s,
        gate_ttl_s=gate_ttl_s,
        timeout_s=timeout_s,
    )


def _engines(
    client: Client,
    keys: LiveKeys,
    *,
    log: RedisRoomLog,
    outbox: TranscriptOutbox,
    pipe: Pipe | None,
    presence_ttl_s: float,
    idle_ttl_s: int,
    gate_ttl_s: int,
    timeout_s: float,
) -> LiveState:
    """The engines around a room log, on one client, the same on one Redis and a cluster."""
    presence = RedisPresence(client, keys, ttl_s=presence_ttl_s, timeout_s=timeout_s)
    return LiveState(
        log=log,
        presence=presence,
        outbox=outbox,
        tutor=RedisTutorState(client, keys, idle_ttl_s=idle_ttl_s, timeout_s=timeout_s),
        limits=RedisTutorLimits(client, keys, idle_ttl_s=idle_ttl_s, timeout_s=timeout_s),
        gates=RedisSessionGates(client, keys, ttl_s=gate_ttl_s, pipe=pipe, timeout_s=timeout_s),
        door=RedisRoomDoor(client, keys, log, presence, pipe=pipe, timeout_s=timeout_s),
        revocations=RedisTokenRevocations(client, keys, timeout_s=timeout_s),
    )
