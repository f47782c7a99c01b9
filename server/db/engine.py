"""Database engine and session factory, built in the application's lifespan."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def postgres_connect_args(pgbouncer: bool) -> dict[str, Any]:
    """What asyncpg needs behind PgBouncer in transaction pooling.

    There, the statements of one client connection run on whichever server connection is free
    at each transaction, so a statement prepared on one is missing on the next (or a name is
    taken there by another client's): no statement caches, and a unique name for every
    statement prepared.
    """
    if not pgbouncer:
        return {}
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4().hex}__",
    }


def create_engine(url: str, *, pgbouncer: bool = False) -> AsyncEngine:
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets report queries read while the transcript writer writes; foreign keys are
            # off by default in SQLite and our deletes rely on their cascades.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args=postgres_connect_args(pgbouncer),
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
