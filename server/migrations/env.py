"""Alembic environment: runs migrations through the same async drivers the server uses."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from server.db.engine import postgres_connect_args
from server.db.material_models import include_reflected_name
from server.db.schema import metadata

target_metadata = metadata


def _url() -> str:
    url = context.config.attributes.get("url") or context.config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    # Run from the alembic command line (e.g. to write a new revision): use the server's own
    # configuration, so STUDYROOM_DATABASE_URL picks the database.
    from server.config import Settings

    return Settings().database_url


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        # SQLite cannot ALTER most of a table in place; batch mode rebuilds it instead.
        render_as_batch=True,
        compare_type=True,
        # The full-text index is engine-specific and not in the models; see material_models.
        include_name=include_reflected_name,
        **kwargs,  # type: ignore[arg-type]
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    # NullPool: a migration is one short conversation; no connection should outlive it.
    pgbouncer = bool(context.config.attributes.get("pgbouncer", False))
    connect_args = postgres_connect_args(pgbouncer) if url.startswith("postgresql") else {}
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online(_url()))
