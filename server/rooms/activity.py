"""``memberships.last_active_at``, written in batches off the room join path.

A join only notes who became active; a background task writes what was noted every
``activity_flush_s`` in one statement, and once more when the process stops. The column orders
``GET /api/sessions/current``, so a join shows there within a flush interval. A failed flush
(database down) keeps its marks for the next one: nothing a join noted is lost while the
process lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.base import utcnow
from server.db.models import Membership

log = logging.getLogger(__name__)

# On the table, not the mapped class: a plain executemany, not an ORM bulk update.
_TABLE = cast(Table, Membership.__table__)
_MEMBERSHIPS = _TABLE.c
_UPDATE = (
    update(_TABLE)
    .where(
        _MEMBERSHIPS.session_id == bindparam("s"),
        _MEMBERSHIPS.user_id == bindparam("u"),
        # Never backwards: a REST join may have written a later time meanwhile.
        _MEMBERSHIPS.last_active_at < bindparam("t"),
    )
    .values(last_active_at=bindparam("t"))
)


class ActivityRecorder:
    def __init__(self, db: async_sessionmaker[AsyncSession], *, flush_s: float) -> None:
        self._db = db
        self._flush_s = flush_s
        self._pending: dict[tuple[int, int], datetime] = {}
        self._task: asyncio.Task[None] | None = None

    def touch(self, session_id: int, user_id: int) -> None:
        """Note that ``user_id`` joined ``session_id``'s room now."""
        self._pending[(session_id, user_id)] = utcnow()

    async def flush(self) -> None:
        """Write what was noted; on failure keep it (unless newer marks replaced it)."""
        if not self._pending:
            return
        taken, self._pending = self._pending, {}
        rows = [{"s": s, "u": u, "t": t} for (s, u), t in taken.items()]
        try:
            async with self._db() as db:
                await db.execute(_UPDATE, rows)
                await db.commit()
        except Exception:
            for key, at in taken.items():
                self._pending.setdefault(key, at)
            raise

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            try:
                await self.flush()
            except Exception as exc:
                log.warning("last_active_at not written, kept for later: %s", type(exc).__name__)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        except Exception as exc:
            log.warning("last_active_at of %d joins not written: %s", len(self._pending), exc)
