"""The Redis outbox's housekeeping: consumers left behind by dead processes are deleted."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis

from server.live.redis_client import connect
from server.live.redis_outbox import RedisOutbox

Harness = Any  # tests/server/live/conftest.py, reached through the ``redis_engine`` fixture

# Each harness has its own key prefix; within one it is enough that ids differ.
_SESSION_IDS = itertools.count(1)


def new_session() -> int:
    return next(_SESSION_IDS)


def chat(n: int) -> str:
    return f'{{"type":"chat","ts":"2024-01-01T00:00:00.000Z","n":{n}}}'


@pytest.fixture
async def client(redis_engine: Harness) -> AsyncIterator[redis.Redis]:
    client = connect(os.environ.get("STUDYROOM_TEST_REDIS", "redis://127.0.0.1:6379/0"))
    yield client
    await client.aclose(close_connection_pool=True)


async def consumers(harness: Harness) -> dict[str, int]:
    """Each consumer of the outbox group and how many entries it holds."""
    async with harness.admin() as admin:
        info = await admin.xinfo_consumers(harness.keys.outbox, harness.keys.outbox_group)
    return {consumer["name"]: consumer["pending"] for consumer in info}


async def test_idle_consumers_are_deleted_once_nothing_is_pending_to_them(
    redis_engine: Harness, client: redis.Redis
) -> None:
    idle = await redis_engine.open(consumer="idle")
    holding = await redis_engine.open(consumer="holding")
    session = new_session()
    for n in range(2):
        await idle.log.append(session, chat(n), persist=True)
    await idle.outbox.ack(await idle.outbox.take(1, 1.0))
    held = await holding.outbox.take(1, 1.0)
    await redis_engine.kill(idle)
    await redis_engine.kill(holding)
    survivor = RedisOutbox(
        client,
        redis_engine.keys,
        consumer="survivor",
        claim_idle_s=0.1,
        prune_idle_s=0.2,
        prune_every_s=0,
    )
    await asyncio.sleep(0.3)  # past both thresholds

    claimed = await survivor.take(10, 0.05)

    # "holding" still had an entry when the survivor looked, so it was kept; it is claimed now.
    assert [(item.seq, item.receipt) for item in claimed] == [
        (item.seq, item.receipt) for item in held
    ]
    assert await consumers(redis_engine) == {"holding": 0, "survivor": 1}
    await survivor.ack(claimed)

    await asyncio.sleep(0.3)
    assert await survivor.take(10, 0.05) == []
    assert await consumers(redis_engine) == {"survivor": 0}


async def test_consumers_are_looked_over_at_most_once_per_interval(
    redis_engine: Harness, client: redis.Redis
) -> None:
    survivor = RedisOutbox(
        client,
        redis_engine.keys,
        consumer="survivor",
        claim_idle_s=0.1,
        prune_idle_s=0.1,
        prune_every_s=3600,
    )
    await survivor.take(10, 0.0)
    dead = await redis_engine.open(consumer="dead")
    await dead.outbox.take(10, 0.0)
    await redis_engine.kill(dead)
    await asyncio.sleep(0.2)

    await survivor.take(10, 0.0)

    assert await consumers(redis_engine) == {"dead": 0, "survivor": 0}


async def test_a_consumer_is_kept_while_it_is_active(
    redis_engine: Harness, client: redis.Redis
) -> None:
    busy = await redis_engine.open(consumer="busy")
    survivor = RedisOutbox(
        client,
        redis_engine.keys,
        consumer="survivor",
        claim_idle_s=0.1,
        prune_idle_s=0.5,
        prune_every_s=0,
    )
    session = new_session()
    for n in range(4):
        await busy.log.append(session, chat(n), persist=True)
        await busy.outbox.ack(await busy.outbox.take(10, 1.0))
        await asyncio.sleep(0.2)
        await survivor.take(10, 0.0)

    # Taking entries keeps a consumer; one that only finds nothing may go, which loses nothing
    # (it held nothing) and Redis makes it again with its next entry.
    assert await consumers(redis_engine) == {"busy": 0, "survivor": 0}
