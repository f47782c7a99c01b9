"""The concept projection applies every progress event exactly once.

Batches are written to the real database of each backend the way the transcript writer
writes them, and projected by real projectors, next to the running server's own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.events import (
    AskEvent,
    ProgressEvent,
    QuizResultEvent,
    RoomEvent,
    UserRef,
    encode_event,
    encode_with_seq,
)
from server.db.engine import create_engine, session_factory
from server.db.migrate import migrate
from server.db.models import StudySession, Topic, TranscriptEvent, User
from server.db.progress_models import ConceptProgress, ProjectedEvent
from server.live.ports import OutboxItem
from server.progress.projector import SETTLE, ConceptProjector
from server.rooms.transcript import TranscriptStore
from tests.conftest import PG_ADMIN_DSN
from tests.support import Person, RoomKit


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def outbox_items(session_id: int, events: list[RoomEvent]) -> list[OutboxItem]:
    return [
        OutboxItem(session_id, seq, encode_with_seq(seq, encode_event(event)), f"r{seq}")
        for seq, event in enumerate(events, start=1)
    ]


@pytest.fixture
async def server_db(study_server: Any) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The running server's database, opened separately like a second server process."""
    engine = create_engine(study_server.backend.database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def test_replayed_batches_and_repeated_runs_count_once(
    study: RoomKit, server_db: async_sessionmaker[AsyncSession]
) -> None:
    me = await study.person()
    topic = await study.topic(me)
    # Nobody enters the room: its transcript holds only the events written below.
    session = await study.session(me, topic=topic)
    accuracy = await study.goal(me, topic, "quiz_accuracy", 1)
    asked = await study.goal(me, topic, "questions_asked", 10)
    user, ts = UserRef(id=me.id, name=me.name), iso(datetime.now(UTC))
    odd_name = UserRef(id=me.id, name="nul\x00name")
    items = outbox_items(
        session["id"],
        [
            AskEvent(turn_id="t1", user=user, text="Quiz me?", ts=ts),
            # A NUL in a stored frame must not keep PostgreSQL from reading its other fields.
            QuizResultEvent(quiz_id="q1", user=odd_name, choice=2, correct=True, ts=ts),
            ProgressEvent(user=user, concept="Osmosis", mastery=0.6, source="quiz", ts=ts),
            ProgressEvent(user=user, concept="Diffusion", mastery=0.2, source="tutor", ts=ts),
            ProgressEvent(user=user, concept="diffusion", mastery=0.6, source="tutor", ts=ts),
        ],
    )
    store = TranscriptStore(server_db)
    mine, another = ConceptProjector(server_db), ConceptProjector(server_db)

    await store.write(items)
    await mine.run_once()
    # The same batch again (a retried or doubly-claimed write), projected again, concurrently
    # by two projectors, and in another order.
    await store.write(items)
    await asyncio.gather(mine.run_once(), another.run_once())
    await store.write(items[::-1])
    assert await mine.run_once() == 0

    concepts = {c["concept"]: c for c in await study.concepts(me, topic)}
    assert concepts["Osmosis"]["reviews"] == 1
    # 0.2, then averaged with 0.6 once; applying either twice would give something else.
    assert concepts["Diffusion"]["mastery"] == pytest.approx(0.4)
    assert concepts["Diffusion"]["reviews"] == 0
    assert (await study.read_goal(me, accuracy["id"]))["value"] == 1
    assert (await study.read_goal(me, asked["id"]))["value"] == 1


# -- ordering hazards, on a database of their own ----------------------------------------------


@pytest.fixture
async def own_db(backend: Any, tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A fresh migrated database, so the test can choose transcript ids itself."""
    if backend.name == "embedded":
        url = f"sqlite+aiosqlite:///{tmp_path / 'projection.db'}"
        name = None
    else:
        import asyncpg  # type: ignore[import-untyped]

        name = f"studyroom_proj_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url = f"{base}/{name}"
    await asyncio.to_thread(migrate, url)
    engine = create_engine(url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
        if name is not None:
            admin = await asyncpg.connect(PG_ADMIN_DSN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Transcript:
    """Writes transcript rows with chosen ids: a row with a lower id committed after rows
    with higher ones is what concurrent writers produce."""

    def __init__(self, db: async_sessionmaker[AsyncSession], session_id: int, who: Person):
        self._db = db
        self._session_id = session_id
        self._user = UserRef(id=who.id, name=who.name)

    async def add(self, row_id: int, seq: int, event: RoomEvent) -> None:
        async with self._db() as db:
            await db.execute(
                insert(TranscriptEvent).values(
                    id=row_id,
                    session_id=self._session_id,
                    seq=seq,
                    type=event.type,
                    user_id=self._user.id,
                    body=encode_with_seq(seq, encode_event(event)),
                    created_at=datetime.fromisoformat(event.ts),
                )
            )
            await db.commit()

    def result(self, correct: bool) -> QuizResultEvent:
        return QuizResultEvent(quiz_id="q", user=self._user, choice=0, correct=correct, ts=iso(T0))

    def quiz_progress(self, concept: str, at: datetime = T0) -> ProgressEvent:
        return ProgressEvent(
            user=self._user, concept=concept, mastery=0.5, source="quiz", ts=iso(at)
        )


async def seed(db: async_sessionmaker[AsyncSession]) -> tuple[Person, int, int]:
    async with db() as s:
        user = User(username="ada", display_name="Ada", password_hash="-")
        s.add(user)
        await s.flush()
        topic = Topic(owner_id=user.id, title="Cells", description="")
        s.add(topic)
        await s.flush()
        session = StudySession(
            title="Cells", topic_id=topic.id, owner_id=user.id, status="active", join_code="CELLS"
        )
        s.add(session)
        await s.commit()
        return Person(user.id, "ada", "Ada", ""), topic.id, session.id


async def reviews(db: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with db() as s:
        rows = await s.execute(select(ConceptProgress.concept, ConceptProgress.reviews))
        return {concept: count for concept, count in rows}


async def test_a_row_committed_late_below_applied_ones_is_still_applied(
    own_db: async_sessionmaker[AsyncSession],
) -> None:
    who, _topic, session_id = await seed(own_db)
    log = Transcript(own_db, session_id, who)
    clock = Clock()
    projector = ConceptProjector(own_db, clock=clock)
    await log.add(10, 1, log.result(True))
    await log.add(11, 2, log.quiz_progress("Osmosis"))
    assert await projector.run_once() == 1
    # Ids 5 and 6 were handed out before 10 and 11, but their write commits only now.
    await log.add(5, 3, log.result(False))
    await log.add(6, 4, log.quiz_progress("Diffusion"))
    clock.now += timedelta(seconds=5)
    assert await projector.run_once() == 1
    assert await reviews(own_db) == {"Osmosis": 1, "Diffusion": 1}
    # Once settled, the cursor moves past them, and the bookkeeping of applied rows is dropped.
    clock.now += SETTLE
    assert await projector.run_once() == 0
    clock.now += SETTLE
    assert await projector.run_once() == 0
    async with own_db() as s:
        assert await s.scalar(select(func.count()).select_from(ProjectedEvent)) == 0
    assert await reviews(own_db) == {"Osmosis": 1, "Diffusion": 1}


async def test_a_quiz_progress_event_waits_for_its_result(
    own_db: async_sessionmaker[AsyncSession],
) -> None:
    who, _topic, session_id = await seed(own_db)
    log = Transcript(own_db, session_id, who)
    clock = Clock()
    projector = ConceptProjector(own_db, clock=clock)
    # The result's batch is committed by another process after the progress event's batch.
    await log.add(21, 8, log.quiz_progress("Mitosis", at=T0 + timedelta(seconds=10)))
    assert await projector.run_once() == 0
    # Settled meanwhile: the cursor moves up, but not past the waiting event.
    clock.now += SETTLE
    assert await projector.run_once() == 0
    await log.add(20, 7, log.result(True))
    assert await projector.run_once() == 1
    assert await reviews(own_db) == {"Mitosis": 1}
    async with own_db() as s:
        card = await s.scalar(select(ConceptProgress.card))
    assert card is not None and '"state": 1' in card  # reviewed once, as Good: still learning
    # A result that never comes: the event is given up once settled, and nothing is invented.
    await log.add(30, 20, log.quiz_progress("Meiosis"))
    clock.now += SETTLE
    assert await projector.run_once() == 1
    assert await reviews(own_db) == {"Mitosis": 1}
