"""Shared fixtures: the backend matrix and real servers on real sockets.

Every test that takes ``backend`` runs twice: on the embedded defaults (SQLite + in-process live
state) and on real PostgreSQL + Redis. Outside CI the second is skipped when those services do
not answer; in CI (``CI=true``) it fails instead, so a missing service is never silently green.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from server.config import Settings
from tests.support.redis_cluster import RedisCluster, redis_cluster

PG_ADMIN_DSN = os.environ.get(
    "STUDYROOM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("STUDYROOM_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 1.0):
            return True
    except OSError:
        return False


def require_services() -> None:
    missing = [u for u in (PG_ADMIN_DSN, REDIS_TEST_URL) if not reachable(u)]
    if missing:
        if IN_CI:
            pytest.fail(f"CI needs PostgreSQL and Redis; not answering: {missing}")
        pytest.skip(f"PostgreSQL/Redis not answering: {missing}")


@dataclass(frozen=True)
class Backend:
    """Where a test server keeps its data. ``name`` is "embedded", "services" or "cluster"."""

    name: str
    database_url: str
    redis_url: str
    redis_prefix: str

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "env": "test",
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "redis_prefix": self.redis_prefix,
            "secret_key": "test-secret-key-that-is-long-enough-for-hs256",
            "tutor_provider": "local",
            # Short, so tests that see a member leave do not wait out the default; the grace
            # itself is tested with its own setting.
            "presence_grace_s": 0.3,
            # Tests of a failing provider see its agent.error; the fallback has its own tests.
            "tutor_fallback": "none",
        }
        values.update(overrides)
        return Settings(**values)

    def env(self, **overrides: str) -> dict[str, str]:
        """The same configuration as environment variables, for server subprocesses."""
        env = {
            "STUDYROOM_ENV": "test",
            "STUDYROOM_DATABASE_URL": self.database_url,
            "STUDYROOM_REDIS_URL": self.redis_url,
            "STUDYROOM_REDIS_PREFIX": self.redis_prefix,
            "STUDYROOM_SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
            "STUDYROOM_TUTOR_PROVIDER": "local",
            "STUDYROOM_PRESENCE_GRACE_S": "0.3",
            "STUDYROOM_TUTOR_FALLBACK": "none",
        }
        env.update(overrides)
        return env


async def _create_pg_database(name: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _delete_redis_prefix(prefix: str) -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


def _migrate(url: str) -> None:
    from server.db.migrate import migrate

    migrate(url)


@pytest.fixture(scope="session")
def embedded_backend(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    path = Path(tmp_path_factory.mktemp("embedded")) / "studyroom.db"
    url = f"sqlite+aiosqlite:///{path}"
    _migrate(url)
    return Backend("embedded", url, "memory://", f"t{uuid.uuid4().hex[:12]}")


@contextlib.asynccontextmanager
async def _scratch_database() -> AsyncIterator[str]:
    """A migrated PostgreSQL database of its own, dropped afterwards; its URL."""
    name = f"studyroom_test_{uuid.uuid4().hex[:12]}"
    await _create_pg_database(name)
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    try:
        await asyncio.to_thread(_migrate, url)
        yield url
    finally:
        await _drop_pg_database(name)


@pytest.fixture(scope="session")
async def services_backend() -> AsyncIterator[Backend]:
    require_services()
    prefix = f"t{uuid.uuid4().hex[:12]}"
    try:
        async with _scratch_database() as url:
            yield Backend("services", url, REDIS_TEST_URL, prefix)
    finally:
        await _delete_redis_prefix(prefix)


@pytest.fixture(scope="session")
def live_cluster() -> Iterator[RedisCluster]:
    """One real Redis Cluster (three masters, three replicas) for every test that asks,
    started on first use and stopped at the end of the test session."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        if IN_CI:
            pytest.fail("CI needs redis-server and redis-cli for the Redis Cluster tests")
        pytest.skip("redis-server is not installed")
    with redis_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
async def cluster_backend(live_cluster: RedisCluster) -> AsyncIterator[Backend]:
    """PostgreSQL and a Redis Cluster, as a scaled-out deployment has them."""
    require_services()
    async with _scratch_database() as url:
        # Every test of the session shares the cluster; a prefix of its own keeps them apart.
        yield Backend("cluster", url, live_cluster.url, f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["embedded", "services"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Run the test on both engines; see the module docstring."""
    name = "embedded_backend" if request.param == "embedded" else "services_backend"
    result: Backend = request.getfixturevalue(name)
    return result


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names that never collide across tests sharing a database."""

    def make(stem: str) -> str:
        return f"{stem}_{uuid.uuid4().hex[:10]}"

    return make


@dataclass
class RunningServer:
    base_url: str
    ws_base: str
    settings: Settings


ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def make_server(backend: Backend) -> AsyncIterator[ServerFactory]:
    """Start a real uvicorn server on a free loopback port in this event loop."""
    from server.runner import start_in_process

    stops: list[Callable[[], Awaitable[None]]] = []

    async def start(**overrides: Any) -> RunningServer:
        settings = backend.settings(**overrides)
        port, stop = await start_in_process(settings)
        stops.append(stop)
        return RunningServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", settings)

    yield start
    for stop in reversed(stops):
        await stop()


@pytest.fixture
async def server(make_server: ServerFactory) -> RunningServer:
    return await make_server()


@pytest.fixture(scope="session")
def artifacts_dir() -> Iterator[Path]:
    path = Path(os.environ.get("STUDYROOM_TEST_ARTIFACTS", "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    yield path
