"""Scratch state for one run: a PostgreSQL database and a Redis key prefix, both removed after."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import redis.asyncio as redis

from server.db.migrate import migrate


@dataclass
class Scratch:
    """``database_url`` (for SQLAlchemy) and ``redis_url``/``prefix`` shared by every system."""

    admin_dsn: str
    redis_url: str
    name: str
    prefix: str

    @property
    def dsn(self) -> str:
        return f"{self.admin_dsn.rsplit('/', 1)[0]}/{self.name}"

    @property
    def database_url(self) -> str:
        return self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


async def create(admin_dsn: str, redis_base: str, redis_db: int) -> Scratch:
    tag = uuid.uuid4().hex[:10]
    scratch = Scratch(
        admin_dsn=admin_dsn,
        redis_url=f"{redis_base.rstrip('/')}/{redis_db}",
        name=f"studyroom_bench_{tag}",
        prefix=f"bench{tag}",
    )
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{scratch.name}"')
    finally:
        await admin.close()
    client = redis.Redis.from_url(scratch.redis_url)
    try:
        await client.ping()
    finally:
        await client.aclose()
    migrate(scratch.database_url)
    return scratch


async def drop(scratch: Scratch) -> None:
    """Drop the database and delete every key under the prefix; each step runs whatever failed."""
    try:
        admin = await asyncpg.connect(scratch.admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{scratch.name}" WITH (FORCE)')
        finally:
            await admin.close()
    finally:
        client = redis.Redis.from_url(scratch.redis_url)
        try:
            async for key in client.scan_iter(match=f"{scratch.prefix}*", count=1000):
                await client.delete(key)
        finally:
            await client.aclose()
