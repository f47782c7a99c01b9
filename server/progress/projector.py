"""Concept progress projected from the transcript: each ``progress`` room event applied once.

The tutor grades a quiz answer with a ``quiz.result`` event and then names the concept in a
``progress`` event (``source: "quiz"``) for the same learner; a ``progress`` event with
``source: "tutor"`` is the tutor's own assessment of the learner who asked. So ``progress``
rows drive the projection: a quiz one is paired with the learner's latest ``quiz.result``
before it in that session and becomes an FSRS review; a tutor one is blended into mastery.
The rules are in :mod:`server.progress.concepts`.

Exactly once, without losing updates:

* A run is one transaction that starts by updating this projection's cursor row, which every
  other run (in any process) then waits for: runs are serialized, so two of them never
  read-modify-write the same concept.
* Transcript ids are not committed in order (two processes write batches concurrently), so a
  high-water mark alone could step over a row committed a moment later. Rows above
  ``last_id`` are re-scanned on every run and skipped if marked in ``projected_events``;
  ``last_id`` only moves up to the newest id seen :data:`SETTLE` ago, when every write that
  was in flight then has long committed or failed, and the markers below it are dropped.
* The concept updates, the markers and the cursor commit together: a run that fails leaves
  nothing half-applied, and the next run does it again.

Runs happen after every transcript batch that holds a relevant event (the writer's
``after_write`` hook), and every :data:`INTERVAL` anyway, which also catches up after a
failed run or a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.errors import is_database_unavailable
from server.db.models import StudySession, Topic, TranscriptEvent, User, utcnow
from server.db.progress_models import ConceptProgress, ProjectedEvent, ProjectionCursor
from server.live.ports import OutboxItem
from server.progress.concepts import ConceptName, assess, concept_name, review

log = logging.getLogger(__name__)

NAME = "concepts"
# Longer than any transcript write stays uncommitted, by far.
SETTLE = timedelta(minutes=2)
INTERVAL = 15.0
PAGE = 200
DRIVER = "progress"
# Batches holding these are worth a run: a quiz progress event may be waiting for its result.
# How far back a quiz progress event looks for its result, past the tutor's assessments.
_PAIRING_WINDOW = 20
_WAKE_TYPES = ('"type":"progress"', '"type":"quiz.result"')


@dataclass(frozen=True)
class _Event:
    id: int
    session_id: int
    seq: int
    user_id: int | None
    body: str
    created_at: datetime


@dataclass
class _Cursor:
    last_id: int
    pending_id: int | None
    pending_at: datetime | None


class ConceptProjector:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        *,
        interval_s: float = INTERVAL,
        settle: timedelta = SETTLE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._interval_s = interval_s
        self._settle = settle
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def after_write(self, items: list[OutboxItem]) -> None:
        """Hook for the transcript writer: ``items`` were just committed. Never raises."""
        if any(marker in item.data for item in items for marker in _WAKE_TYPES):
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stop, after one last run for what the transcript writer stored while stopping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.run_once(), 5.0)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            self._wake.clear()
            try:
                await self.run_once()
            except Exception as exc:
                if not is_database_unavailable(exc):
                    log.exception("concept projection failed; retrying")
                else:
                    log.warning("concept projection paused: database unavailable")

    async def run_once(self) -> int:
        """Apply every progress event not applied yet; returns how many were applied."""
        applied = 0
        after: int | None = None
        while True:
            async with self._db() as db:
                cursor = await _lock_cursor(db)
                now = self._clock()
                found = await db.execute(_unapplied(after or cursor.last_id))
                rows = [_Event(*row) for row in found]
                for row in rows:
                    if await self._apply(db, row, now):
                        db.add(ProjectedEvent(name=NAME, transcript_id=row.id))
                        applied += 1
                last_page = len(rows) < PAGE
                if last_page:
                    await self._advance(db, cursor, now)
                await db.commit()
            if last_page:
                return applied
            after = rows[-1].id

    async def _advance(self, db: AsyncSession, cursor: _Cursor, now: datetime) -> None:
        """Move ``last_id`` up to the last settled ``pending_id``; see the module docstring."""
        if cursor.pending_id is not None and cursor.pending_at is not None:
            if now - cursor.pending_at < self._settle:
                return
            waiting = await db.scalar(
                select(func.min(TranscriptEvent.id)).where(
                    _unapplied_filter(cursor.last_id), TranscriptEvent.id <= cursor.pending_id
                )
            )
            last_id = cursor.pending_id if waiting is None else max(cursor.last_id, waiting - 1)
            if last_id > cursor.last_id:
                await db.execute(
                    delete(ProjectedEvent).where(
                        ProjectedEvent.name == NAME, ProjectedEvent.transcript_id <= last_id
                    )
                )
                cursor.last_id = last_id
        newest = await db.scalar(select(func.max(TranscriptEvent.id)))
        await db.execute(
            update(ProjectionCursor)
            .where(ProjectionCursor.name == NAME)
            .values(last_id=cursor.last_id, pending_id=newest or 0, pending_at=now)
        )

    async def _apply(self, db: AsyncSession, row: _Event, now: datetime) -> bool:
        """Apply one progress event; False to leave it for a later run."""
        try:
            body = json.loads(row.body)
        except ValueError:
            return True
        if not isinstance(body, dict):
            return True
        name = concept_name(body.get("concept"))
        if row.user_id is None or name is None:
            return True
        topic_id = await _topic_at(db, row.session_id, row.seq)
        if topic_id is None or not await _exist(db, row.user_id, topic_id):
            return True
        if body.get("source") == "quiz":
            correct = await _graded_answer(db, row)
            if correct is None:
                # Its quiz.result may be in a batch another process has yet to commit.
                return now - row.created_at >= self._settle
            await _record_review(db, row.user_id, topic_id, name, correct, row.created_at)
            return True
        assessed = body.get("mastery")
        if isinstance(assessed, int | float) and not isinstance(assessed, bool):
            await _record_assessment(db, row.user_id, topic_id, name, float(assessed))
        return True


async def _lock_cursor(db: AsyncSession) -> _Cursor:
    """This projection's cursor, locked until the transaction ends (created if missing)."""
    for _ in range(2):
        # An update rather than SELECT ... FOR UPDATE: it also takes SQLite's write lock up
        # front, so the run cannot fail later on upgrading a read transaction.
        row = (
            await db.execute(
                update(ProjectionCursor)
                .where(ProjectionCursor.name == NAME)
                .values(last_id=ProjectionCursor.last_id)
                .returning(
                    ProjectionCursor.last_id,
                    ProjectionCursor.pending_id,
                    ProjectionCursor.pending_at,
                )
            )
        ).first()
        if row is not None:
            return _Cursor(row.last_id, row.pending_id, row.pending_at)
        dialect = db.get_bind().dialect.name
        upsert = pg_insert if dialect == "postgresql" else sqlite_insert
        await db.execute(
            upsert(ProjectionCursor)
            .values(name=NAME, last_id=0, pending_id=None, pending_at=None)
            .on_conflict_do_nothing(index_elements=[ProjectionCursor.name])
        )
    raise RuntimeError("projection cursor could not be created")


def _unapplied_filter(last_id: int) -> Any:
    marked = exists().where(
        ProjectedEvent.name == NAME, ProjectedEvent.transcript_id == TranscriptEvent.id
    )
    return (TranscriptEvent.id > last_id) & (TranscriptEvent.type == DRIVER) & ~marked


def _unapplied(after: int) -> Any:
    return (
        select(
            TranscriptEvent.id,
            TranscriptEvent.session_id,
            TranscriptEvent.seq,
            TranscriptEvent.user_id,
            TranscriptEvent.body,
            TranscriptEvent.created_at,
        )
        .where(_unapplied_filter(after))
        .order_by(TranscriptEvent.id)
        .limit(PAGE)
    )


async def _topic_at(db: AsyncSession, session_id: int, seq: int) -> int | None:
    """The session's topic when event ``seq`` happened: the last switch before it, if any."""
    switched = await db.scalar(
        select(TranscriptEvent.body)
        .where(
            TranscriptEvent.session_id == session_id,
            TranscriptEvent.type == "topic.changed",
            TranscriptEvent.seq < seq,
        )
        .order_by(TranscriptEvent.seq.desc())
        .limit(1)
    )
    if switched is not None:
        topic = json.loads(switched).get("topic")
        switched_to = topic.get("id") if isinstance(topic, dict) else None
        return switched_to if isinstance(switched_to, int) else None
    # Not switched since: the topic it was created with, which is still its topic unless a
    # switch is yet to reach the transcript.
    topic_id: int | None = await db.scalar(
        select(StudySession.topic_id).where(StudySession.id == session_id)
    )
    return topic_id


async def _exist(db: AsyncSession, user_id: int, topic_id: int) -> bool:
    """Both still exist: progress of a deleted user or on a deleted topic is dropped."""
    user = await db.scalar(select(User.id).where(User.id == user_id))
    topic = await db.scalar(select(Topic.id).where(Topic.id == topic_id))
    return user is not None and topic is not None


async def _graded_answer(db: AsyncSession, row: _Event) -> bool | None:
    """Whether the answer this quiz progress event reports was correct; None if not stored.

    Its result is the learner's latest ``quiz.result`` before it, unless another quiz progress
    event of theirs came in between: then that result was the other one's, and this one's is
    not in the transcript (yet).
    """
    earlier = await db.scalars(
        select(TranscriptEvent.body)
        .where(
            TranscriptEvent.session_id == row.session_id,
            TranscriptEvent.type.in_(("quiz.result", DRIVER)),
            TranscriptEvent.user_id == row.user_id,
            TranscriptEvent.seq < row.seq,
        )
        .order_by(TranscriptEvent.seq.desc())
        .limit(_PAIRING_WINDOW)
    )
    for raw in earlier:
        body = json.loads(raw)
        if body.get("type") == "quiz.result":
            return body.get("correct") is True
        if body.get("source") == "quiz":
            return None
    return None


async def _concept(
    db: AsyncSession, user_id: int, topic_id: int, name: ConceptName
) -> ConceptProgress | None:
    found: ConceptProgress | None = await db.scalar(
        select(ConceptProgress).where(
            ConceptProgress.user_id == user_id,
            ConceptProgress.topic_id == topic_id,
            ConceptProgress.concept_key == name.key,
        )
    )
    return found


async def _record_review(
    db: AsyncSession, user_id: int, topic_id: int, name: ConceptName, correct: bool, at: datetime
) -> None:
    concept = await _concept(db, user_id, topic_id, name)
    reviewed = review(concept.card if concept is not None else None, correct, at)
    if concept is None:
        concept = _new(user_id, topic_id, name, reviewed.mastery)
        db.add(concept)
    else:
        concept.reviews += 1
    concept.card = reviewed.card
    concept.mastery = reviewed.mastery
    concept.next_review_at = reviewed.next_review_at
    concept.updated_at = utcnow()
    # Flushed now, so the next event of this run reads what this one wrote.
    await db.flush()


async def _record_assessment(
    db: AsyncSession, user_id: int, topic_id: int, name: ConceptName, assessed: float
) -> None:
    concept = await _concept(db, user_id, topic_id, name)
    if concept is None:
        db.add(_new(user_id, topic_id, name, assess(None, assessed), reviews=0))
    else:
        concept.mastery = assess(concept.mastery, assessed)
        concept.updated_at = utcnow()
    await db.flush()


def _new(
    user_id: int, topic_id: int, name: ConceptName, mastery: float, reviews: int = 1
) -> ConceptProgress:
    return ConceptProgress(
        user_id=user_id,
        topic_id=topic_id,
        concept_key=name.key,
        concept=name.display,
        mastery=mastery,
        reviews=reviews,
        updated_at=utcnow(),
    )
