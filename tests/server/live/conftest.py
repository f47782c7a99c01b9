"""Live-state engines for tests: the memory engine, Redis, or a real Redis Cluster (three
masters, three replicas, started for the test session), each under a throwaway prefix.

A ``Harness`` stands for one backend. ``peer`` gives a second process on the same backend: on
Redis a separate engine with its own connections and consumer name; with the memory engine,
which only ever serves one process, the same engines. Tests reach everything here through
fixtures (test modules cannot import a conftest under ``--import-mode=importlib``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import pytest
import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster as ClusterClient

from server.live.keys import LiveKeys
from server.live.memory import memory_live_state
from server.live.ports import LiveState, LoggedEvent
from server.live.redis_engine import CLUSTER_PARTITIONS, redis_cluster_live_state, redis_live_state
from tests.support.redis_cluster import RedisCluster

REDIS_URL = os.environ.get("STUDYROOM_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_redis() -> None:
    """Skip when Redis does not answer; in CI fail instead, so it is never silently green."""
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1.0):
            return
    except OSError:
        pass
    if IN_CI:
        pytest.fail(f"CI needs Redis at {REDIS_URL}")
    pytest.skip(f"Redis not answering at {REDIS_URL}")


@dataclass(frozen=True)
class Options:
    retention: int = 1000
    presence_ttl_s: float = 5.0
    claim_idle_s: float = 30.0
    gate_ttl_s: int = 300


class Harness:
    def __init__(self, kind: str, cluster: RedisCluster | None = None) -> None:
        self.kind = kind
        self.cluster = cluster
        self.prefix = f"t{uuid.uuid4().hex[:12]}"
        self.keys = LiveKeys(self.prefix, CLUSTER_PARTITIONS if cluster else 0)
        # What the durable transcript holds per session; tests set it before a log is created.
        self.seeds: dict[int, int] = {}
        self._states: list[LiveState] = []
        self._options: dict[int, Options] = {}

    @property
    def shared(self) -> bool:
        """Whether two instances really are two processes sharing one backend."""
        return self.kind != "memory"

    async def seed(self, session_id: int) -> int:
        return self.seeds.get(session_id, 0)

    async def open(
        self, *, consumer: str = "first", url: str = REDIS_URL, **options: float
    ) -> LiveState:
        opts = Options(**options)  # type: ignore[arg-type]
        if self.kind == "memory":
            state = memory_live_state(
                retention=opts.retention,
                presence_ttl_s=opts.presence_ttl_s,
                seed=self.seed,
                gate_ttl_s=opts.gate_ttl_s,
            )
        elif self.cluster is not None:
            state = await redis_cluster_live_state(
                url=self.cluster.url,
                prefix=self.prefix,
                retention=opts.retention,
                idle_ttl_s=3600,
                presence_ttl_s=opts.presence_ttl_s,
                seed=self.seed,
                consumer=consumer,
                claim_idle_s=opts.claim_idle_s,
                gate_ttl_s=opts.gate_ttl_s,
            )
        else:
            state = await redis_live_state(
                url=url,
                prefix=self.prefix,
                retention=opts.retention,
                idle_ttl_s=3600,
                presence_ttl_s=opts.presence_ttl_s,
                seed=self.seed,
                consumer=consumer,
                claim_idle_s=opts.claim_idle_s,
                gate_ttl_s=opts.gate_ttl_s,
            )
        self._states.append(state)
        self._options[id(state)] = opts
        return state

    async def peer(self, state: LiveState, *, consumer: str = "second") -> LiveState:
        if not self.shared:
            return state
        return await self.open(consumer=consumer, **asdict(self._options[id(state)]))

    async def kill(self, state: LiveState) -> None:
        """The process dies: its engines stop, whatever it held stays in the backend."""
        self._states.remove(state)
        await state.log.close()

    async def lose_log(self, state: LiveState, session_id: int) -> LiveState:
        """The session's log is lost: Redis dropped its keys, or the process restarted."""
        if not self.shared:
            return await self.open(**asdict(self._options[id(state)]))
        async with self.admin() as client:
            # One slot, so one DEL on a cluster too.
            await client.delete(*self.keys.session_keys(session_id))
        return state

    def admin(self) -> redis.Redis | ClusterClient:
        if self.cluster is not None:
            return ClusterClient.from_url(self.cluster.seed_url, decode_responses=True)
        return redis.Redis.from_url(REDIS_URL, decode_responses=True)

    async def close(self) -> None:
        for state in self._states:
            await state.log.close()
        self._states.clear()
        if self.shared:
            async with self.admin() as client:
                doomed = [key async for key in client.scan_iter(match=f"{self.prefix}:*")]
                # Key by key: on a cluster the keys are spread over every slot.
                for key in doomed:
                    await client.delete(key)


class Collector:
    """A listener that records what it is given and lets a test wait for it."""

    def __init__(self) -> None:
        self.events: list[LoggedEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: LoggedEvent) -> None:
        self.events.append(event)
        self._changed.set()

    @property
    def seqs(self) -> list[int]:
        return [event.seq for event in self.events]

    async def wait_until(self, done: Callable[[], bool], timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for(self, count: int, timeout: float = 2.0) -> None:
        await self.wait_until(lambda: len(self.events) >= count, timeout)


@pytest.fixture(params=["memory", "redis", "cluster"])
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """Run the test on each engine; see the module docstring."""
    if request.param == "redis":
        require_redis()
    # tests/conftest.py: one Redis Cluster for the test session, started on first use.
    cluster = request.getfixturevalue("live_cluster") if request.param == "cluster" else None
    harness = Harness(request.param, cluster)
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
async def redis_engine() -> AsyncIterator[Harness]:
    """For behaviour only the Redis engine has (reconnects, unreachable servers)."""
    require_redis()
    harness = Harness("redis")
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
def collector() -> type[Collector]:
    return Collector
