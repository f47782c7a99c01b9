"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from server.db.material_models import include_reflected_name, is_search_index_name
from server.db.migrate import downgrade, migrate
from server.db.schema import metadata

PG_ADMIN_DSN = os.environ.get(
    "STUDYROOM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TABLES = {
    "users",
    "topics",
    "sessions",
    "memberships",
    "transcript_events",
    "materials",
    "material_chunks",
    "goals",
    "concept_progress",
    "projected_events",
    "projection_cursors",
    "quiz_cards",
    "session_bans",
}


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_name": include_reflected_name,
        },
    )
    return list(compare_metadata(context, metadata))


def _tables(connection: Connection) -> set[str]:
    names = set(inspect(connection).get_table_names()) - {"alembic_version"}
    return {name for name in names if not is_search_index_name(name)}


async def _inspect(url: str) -> tuple[list[Any], set[str], str | None]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
            tables = await conn.run_sync(_tables)
            version = None
            if "alembic_version" in await conn.run_sync(lambda c: inspect(c).get_table_names()):
                version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            return diff, tables, version
    finally:
        await engine.dispose()


@pytest.fixture
async def fresh_database(backend: Any, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the backend's kind, dropped afterwards."""
    if backend.name == "embedded":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    import asyncpg

    name = f"studyroom_mig_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_migrated_schema_matches_models(fresh_database: str) -> None:
    await asyncio.to_thread(migrate, fresh_database)
    diff, tables, version = await _inspect(fresh_database)
    assert diff == []
    assert tables == TABLES
    assert version is not None


async def test_migrate_is_idempotent_and_reversible(fresh_database: str) -> None:
    await asyncio.to_thread(migrate, fresh_database)
    await asyncio.to_thread(migrate, fresh_database)
    await asyncio.to_thread(downgrade, fresh_database, "base")
    _, tables, _ = await _inspect(fresh_database)
    assert tables == set()
    await asyncio.to_thread(migrate, fresh_database)
    diff, tables, _ = await _inspect(fresh_database)
    assert diff == [] and tables == TABLES


async def test_test_backends_are_up_to_date(backend: Any) -> None:
    diff, tables, _ = await _inspect(backend.database_url)
    assert diff == []
    assert tables >= TABLES


async def test_migrate_from_a_running_loop(tmp_path: Path) -> None:
    # A caller that forgets asyncio.to_thread still gets a migrated database, not an error.
    url = f"sqlite+aiosqlite:///{tmp_path / 'inloop.db'}"
    migrate(url)
    diff, tables, _ = await _inspect(url)
    assert diff == [] and tables == TABLES


def test_comparison_notices_drift() -> None:
    # Guard against a comparison that is vacuously empty: missing tables must show up.
    with create_engine("sqlite://").connect() as conn:
        assert {entry[1].name for entry in _diff(conn) if entry[0] == "add_table"} == TABLES
