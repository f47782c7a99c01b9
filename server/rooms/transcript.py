"""The persisted transcript: room events written to the database behind the live room.

Fan-out never waits for the database. Events appended with ``persist=True`` wait in the live
state's outbox; the writer stores them in batches and acknowledges them only once committed.
A failed write leaves them in the outbox to be retried, and the unique ``(session_id, seq)``
makes a retried or doubly-claimed batch harmless, so the transcript ends up exactly the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.config import Settings
from server.db.errors import is_database_unavailable
from server.db.models import TranscriptEvent, User
from server.deleted_users import anonymised
from server.live.ports import LiveStateUnavailable, OutboxItem, TranscriptOutbox
from server.metrics import Metrics

log = logging.getLogger(__name__)

# A log recreated for a session that has history starts this far above the last persisted
# event, so numbers a client saw in the lost epoch but that never reached the database are not
# mistaken for positions in the new one. Clients that send ``epoch`` are exact regardless.
EPOCH_GAP = 1000


class TranscriptStore:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def max_seq(self, session_id: int) -> int:
        """Seed for a (re)created room log; see :data:`EPOCH_GAP`.

        Raises :class:`LiveStateUnavailable` when the database cannot say: a log must not be
        started from a guess.
        """
        try:
            async with self._db() as db:
                top = await db.scalar(
                    select(func.max(TranscriptEvent.seq)).where(
                        TranscriptEvent.session_id == session_id
                    )
                )
        except Exception as exc:
            if is_database_unavailable(exc):
                raise LiveStateUnavailable("database unavailable to seed the room log") from exc
            raise
        return 0 if top is None else int(top) + EPOCH_GAP

    async def write(self, items: list[OutboxItem]) -> None:
        """Store events; ones already stored are skipped. Raises on database errors."""
        rows = [_row(item) for item in items]
        async with self._db() as db:
            await _rename_deleted_users(db, rows)
            dialect = db.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            statement = insert(TranscriptEvent).on_conflict_do_nothing(
                index_elements=["session_id", "seq"]
            )
            await db.execute(statement, rows)
            await db.commit()


async def _rename_deleted_users(db: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Events of an account deleted while they waited in the outbox are stored as the deletion
    left the rest of its words: under :data:`DELETED_NAME`. One primary-key lookup a batch."""
    authors = {row["user_id"] for row in rows if row["user_id"] is not None}
    if not authors:
        return
    deleted = set(
        await db.scalars(select(User.id).where(User.id.in_(authors), User.deleted_at.isnot(None)))
    )
    for row in rows:
        if row["user_id"] in deleted:
            row["body"] = anonymised(row["body"])


def _row(item: OutboxItem) -> dict[str, Any]:
    body = json.loads(item.data)
    user = body.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    try:
        created = datetime.fromisoformat(body["ts"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        created = datetime.now(UTC)
    return {
        "session_id": item.session_id,
        "seq": item.seq,
        "type": str(body.get("type", ""))[:32],
        "user_id": user_id if isinstance(user_id, int) else None,
        "body": item.data,
        "created_at": created,
    }


class TranscriptWriter:
    """Moves events from the outbox to the database until the process stops."""

    def __init__(
        self,
        outbox: TranscriptOutbox,
        store: TranscriptStore,
        settings: Settings,
        metrics: Metrics,
        after_write: Callable[[list[OutboxItem]], Awaitable[None]] | None = None,
    ) -> None:
        self._outbox = outbox
        # Told about every batch once it is committed, e.g. to project it; must not raise.
        self._after_write = after_write
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._writing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        batch_max, linger_s = (
            self._settings.transcript_batch_max,
            self._settings.transcript_linger_s,
        )
        while not self._stopping:
            try:
                taken = await self.flush_once(wait_s=1.0)
                if 0 < taken < batch_max and linger_s:
                    # The first event after a quiet spell is written at once; in a busy room
                    # the next ones gather for a moment and go in one round trip.
                    await asyncio.sleep(linger_s)
            except LiveStateUnavailable:
                await asyncio.sleep(self._settings.transcript_retry_s)
            except Exception:
                log.exception("transcript writer failed; retrying")
                await asyncio.sleep(self._settings.transcript_retry_s)

    async def flush_once(self, wait_s: float) -> int:
        """Store one batch; returns how many events were taken (0 if none were waiting)."""
        items = await self._outbox.take(self._settings.transcript_batch_max, wait_s)
        if not items:
            return 0
        self._metrics.transcript_pending.set(len(items))
        self._writing = True
        try:
            return await self._store_batch(items)
        finally:
            self._writing = False

    async def _store_batch(self, items: list[OutboxItem]) -> int:
        try:
            await self._store.write(items)
        except asyncio.CancelledError:
            await self._outbox.release(items)
            raise
        except Exception as exc:
            if is_database_unavailable(exc):
                self._metrics.transcript_failures.inc()
                log.warning("transcript write failed (%s); will retry", type(exc).__name__)
                await self._outbox.release(items)
                await asyncio.sleep(self._settings.transcript_retry_s)
                return len(items)
            # A row the database refuses (its session was deleted) must not block the rest.
            await self._write_one_by_one(items)
            if self._after_write is not None:
                await self._after_write(items)
            return len(items)
        await self._outbox.ack(items)
        self._metrics.transcript_written.inc(len(items))
        if self._after_write is not None:
            await self._after_write(items)
        return len(items)

    async def _write_one_by_one(self, items: list[OutboxItem]) -> None:
        for item in items:
            try:
                await self._store.write([item])
            except Exception as exc:
                if is_database_unavailable(exc):
                    await self._outbox.release([item])
                    continue
                log.error(
                    "dropping event %s/%d from the transcript: %s", item.session_id, item.seq, exc
                )
            await self._outbox.ack([item])

    async def close(self, drain_s: float = 5.0) -> None:
        """Stop, after storing what is waiting (for at most ``drain_s``)."""
        self._stopping = True
        if self._task is not None:
            if not self._writing:
                # Waiting for work: nothing is lost by not waiting any longer.
                self._task.cancel()
            # A batch being written is allowed to finish rather than be cut in half.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 3.0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_s
        with contextlib.suppress(Exception):
            while loop.time() < deadline and await self.flush_once(wait_s=0.05):
                pass
