"""Apply the schema migrations in ``server/migrations`` to a database.

The scripts ship inside the package, so an installed server can migrate without an
``alembic.ini`` or a checkout.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str, *, pgbouncer: bool = False) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Handed over as an attribute rather than ``sqlalchemy.url``: the ini-style option would
    # treat a ``%`` in an escaped password as interpolation syntax.
    config.attributes["url"] = url
    config.attributes["pgbouncer"] = pgbouncer
    return config


def migrate(url: str, revision: str = "head", *, pgbouncer: bool = False) -> None:
    """Upgrade the database at ``url`` (an async SQLAlchemy URL) to ``revision``; with
    ``pgbouncer``, through PgBouncer (see ``server.db.engine.postgres_connect_args``).

    Idempotent: an up-to-date database is left as it is. Blocks until done; async callers use
    ``asyncio.to_thread``.
    """
    config = alembic_config(url, pgbouncer=pgbouncer)
    _run_outside_loop(lambda: command.upgrade(config, revision))


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at ``url`` to ``revision`` (``"base"`` drops every table)."""
    _run_outside_loop(lambda: command.downgrade(alembic_config(url), revision))


def _run_outside_loop(job: Callable[[], object]) -> None:
    # The migration environment drives an async engine with its own event loop, which cannot
    # start in a thread whose loop is already running; such callers get a helper thread.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        job()
        return
    failure: list[BaseException] = []

    def run() -> None:
        try:
            job()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="studyroom-migrate")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
