"""The transcript writer moves the room log's persisted events to the database: all of them, in
seq order, each once, none of the transient ones, and none lost to a database outage or a stop.

The room is the hub over the memory live state, the store the server's own on the real
database of each backend; only the database link is cut, by a TCP relay in front of PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.events import (
    AgentDeltaEvent,
    AgentDoneEvent,
    AgentStartEvent,
    ChatEvent,
    PresenceEvent,
    RoomEvent,
    TurnUsage,
    UserRef,
    now_iso,
)
from server.db.engine import create_engine, session_factory
from server.db.models import StudySession, Topic, TranscriptEvent, User
from server.live.memory import memory_live_state
from server.live.ports import LiveState, LiveStateUnavailable, LoggedEvent, OutboxItem
from server.metrics import Metrics
from server.rooms.hub import Hub
from server.rooms.transcript import EPOCH_GAP, TranscriptStore, TranscriptWriter
from tests.fakes.tcp_relay import Relay
from tests.support import eventually

Database = async_sessionmaker[AsyncSession]

# Small batches and short pauses: several batches in a few events, retries within milliseconds.
QUICK = {"transcript_batch_max": 3, "transcript_linger_s": 0.01, "transcript_retry_s": 0.05}


@pytest.fixture
async def db(backend: Any) -> AsyncIterator[Database]:
    """The backend's migrated database, reached directly."""
    engine = create_engine(backend.database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def new_session(db: Database, unique: Callable[[str], str]) -> tuple[UserRef, int]:
    """A user and a session of theirs, so transcript rows have a session to belong to."""
    async with db() as s:
        user = User(username=unique("ada"), display_name="Ada", password_hash="-")
        s.add(user)
        await s.flush()
        topic = Topic(owner_id=user.id, title="Cells", description="")
        s.add(topic)
        await s.flush()
        session = StudySession(
            title="Cells",
            topic_id=topic.id,
            owner_id=user.id,
            status="active",
            join_code=uuid.uuid4().hex[:16],
        )
        s.add(session)
        await s.commit()
        return UserRef(id=user.id, name="Ada"), session.id


async def stored(db: Database, session_id: int) -> list[TranscriptEvent]:
    """The session's transcript rows in the order they were inserted."""
    async with db() as s:
        rows = await s.scalars(
            select(TranscriptEvent)
            .where(TranscriptEvent.session_id == session_id)
            .order_by(TranscriptEvent.id)
        )
        return list(rows)


async def at_once(value: Callable[[], Any]) -> Any:
    """A probe for :func:`eventually` of state the test holds in memory."""
    return value()


async def stored_seqs(db: Database, session_id: int) -> list[int]:
    return [row.seq for row in await stored(db, session_id)]


@dataclass
class Room:
    """One session's room: the hub publishes, the writer under test stores."""

    hub: Hub
    live: LiveState
    session_id: int
    user: UserRef
    logged: list[LoggedEvent] = field(default_factory=list)

    async def publish(self, event: RoomEvent) -> LoggedEvent:
        logged = await self.hub.publish(self.session_id, event)
        self.logged.append(logged)
        return logged

    async def chats(self, count: int, tag: str = "m") -> list[LoggedEvent]:
        return [
            await self.publish(
                ChatEvent(
                    message_id=uuid.uuid4().hex, user=self.user, text=f"{tag}{n}", ts=now_iso()
                )
            )
            for n in range(count)
        ]


@dataclass
class Rig:
    """Builds writers on one room; closes all of them and the room after the test."""

    db: Database
    room: Room
    backend: Any
    written: list[list[OutboxItem]] = field(default_factory=list)
    writers: list[TranscriptWriter] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)

    def writer(
        self, store: TranscriptStore | None = None, *, start: bool = True, **settings: Any
    ) -> TranscriptWriter:
        async def after_write(items: list[OutboxItem]) -> None:
            self.written.append(items)

        writer = TranscriptWriter(
            self.room.live.outbox,
            store or TranscriptStore(self.db),
            self.backend.settings(**{**QUICK, **settings}),
            self.metrics,
            after_write=after_write,
        )
        self.writers.append(writer)
        if start:
            writer.start()
        return writer

    def written_seqs(self) -> list[int]:
        return [item.seq for batch in self.written for item in batch]

    def failures(self) -> float:
        value = self.metrics.registry.get_sample_value("studyroom_transcript_failures_total")
        return value or 0.0


@pytest.fixture
async def rig(backend: Any, db: Database, unique: Callable[[str], str]) -> AsyncIterator[Rig]:
    user, session_id = await new_session(db, unique)
    store = TranscriptStore(db)
    live = memory_live_state(retention=1000, presence_ttl_s=5.0, seed=store.max_seq)
    hub = Hub(backend.settings(), live, Metrics())
    made = Rig(db, Room(hub, live, session_id, user), backend)
    yield made
    for writer in made.writers:
        await writer.close(drain_s=1.0)
    await hub.close()
    await live.log.close()


async def test_persisted_events_reach_the_transcript_in_seq_order(rig: Rig) -> None:
    room = rig.room
    rig.writer()
    await room.publish(PresenceEvent(event="join", user=room.user, ts=now_iso()))
    await room.chats(9)

    rows = await eventually(lambda: stored(rig.db, room.session_id), lambda r: len(r) == 10)
    # Inserted in seq order, each exactly the frame members received.
    assert [row.seq for row in rows] == list(range(1, 11))
    assert [row.body for row in rows] == [logged.data for logged in room.logged]
    assert [row.type for row in rows] == ["presence"] + ["chat"] * 9
    assert {row.user_id for row in rows} == {room.user.id}


async def test_transient_deltas_never_reach_the_transcript(rig: Rig) -> None:
    room = rig.room
    rig.writer()
    await room.chats(1)
    await room.publish(AgentStartEvent(turn_id="t1", in_reply_to=1, ts=now_iso()))
    for piece in ("Light ", "is ", "absorbed."):
        await room.publish(AgentDeltaEvent(turn_id="t1", text=piece, ts=now_iso()))
    done = await room.publish(
        AgentDoneEvent(
            turn_id="t1",
            text="Light is absorbed.",
            usage=TurnUsage(tokens_in=3, tokens_out=3),
            citations=[],
            stopped=False,
            model="scripted",
            ts=now_iso(),
        )
    )
    await room.chats(1, tag="after")

    rows = await eventually(
        lambda: stored(rig.db, room.session_id), lambda r: len(r) >= 1 and r[-1].seq == 7
    )
    # The deltas had seqs 3, 4 and 5 in the log; the transcript keeps the hole.
    assert [(row.seq, row.type) for row in rows] == [
        (1, "chat"),
        (2, "agent.start"),
        (done.seq, "agent.done"),
        (7, "chat"),
    ]
    assert '"agent.delta"' not in "".join(item.data for batch in rig.written for item in batch)


async def test_a_batch_taken_again_after_it_was_stored_is_stored_once(rig: Rig) -> None:
    room = rig.room
    await room.chats(6)
    outbox, store = room.live.outbox, TranscriptStore(rig.db)
    # A writer stores a batch and stops before acknowledging it: the outbox hands it out again.
    first = await outbox.take(4, wait_s=1.0)
    await store.write(first)
    await store.write(first[1:3])
    await outbox.release(first)
    assert await stored_seqs(rig.db, room.session_id) == [1, 2, 3, 4]

    rig.writer()
    await eventually(lambda: stored_seqs(rig.db, room.session_id), lambda s: len(s) >= 6)
    await room.chats(1, tag="later")

    seqs = await eventually(lambda: stored_seqs(rig.db, room.session_id), lambda s: len(s) >= 7)
    assert seqs == list(range(1, 8))
    # The writer counts the redelivered batch as written: what follows it learns of it too.
    assert sorted(rig.written_seqs()) == list(range(1, 8))


async def test_a_refused_event_does_not_hold_back_the_rest_of_its_batch(rig: Rig) -> None:
    room = rig.room
    writer = rig.writer(start=False, transcript_batch_max=10)
    await room.chats(2)
    # An event of a session the database no longer has (deleted while its room was live).
    gone = 2**40
    await room.hub.publish(
        gone, ChatEvent(message_id="x", user=room.user, text="orphan", ts=now_iso())
    )
    await room.chats(2, tag="after")

    assert await writer.flush_once(wait_s=1.0) == 5
    assert await stored_seqs(rig.db, room.session_id) == [1, 2, 3, 4]
    assert await stored_seqs(rig.db, gone) == []
    # Dropped for good, not retried: the outbox is empty.
    assert await writer.flush_once(wait_s=0.05) == 0


async def test_events_of_an_account_deleted_while_they_waited_are_stored_nameless(
    rig: Rig,
) -> None:
    room = rig.room
    writer = rig.writer(start=False, transcript_batch_max=10)
    await room.chats(1, tag="before")
    async with rig.db() as s:
        stranger = User(username=uuid.uuid4().hex[:12], display_name="Bob", password_hash="-")
        s.add(stranger)
        await s.commit()
        bob = UserRef(id=stranger.id, name="Bob")
    await room.publish(ChatEvent(message_id="b", user=bob, text="bob stays", ts=now_iso()))
    # Ada deletes her account while her words are still in the outbox.
    async with rig.db() as s:
        await s.execute(
            update(User).where(User.id == room.user.id).values(deleted_at=datetime.now(UTC))
        )
        await s.commit()

    assert await writer.flush_once(wait_s=1.0) == 2
    rows = [json.loads(row.body) for row in await stored(rig.db, room.session_id)]
    assert [(r["text"], r["user"]["name"]) for r in rows] == [
        ("before0", "deleted user"),
        ("bob stays", "Bob"),
    ]
    # Only the name changed: the frame is the one members saw, seq first.
    assert rows[0] == {
        **json.loads(room.logged[0].data),
        "user": {"id": room.user.id, "name": "deleted user"},
    }


async def test_close_writes_what_is_waiting(rig: Rig) -> None:
    room = rig.room
    # A long linger: after its first batch the writer waits, and the next events wait with it.
    writer = rig.writer(transcript_linger_s=5.0)
    await room.chats(1)
    await eventually(lambda: stored_seqs(rig.db, room.session_id), lambda s: s == [1])
    await room.chats(7, tag="pending")
    assert await stored_seqs(rig.db, room.session_id) == [1]

    await writer.close()

    assert await stored_seqs(rig.db, room.session_id) == list(range(1, 9))
    assert rig.written_seqs() == list(range(1, 9))


async def test_after_write_is_told_of_each_batch_once_it_is_committed(rig: Rig) -> None:
    room = rig.room
    committed: list[bool] = []

    async def after_write(items: list[OutboxItem]) -> None:
        seqs = set(await stored_seqs(rig.db, room.session_id))
        committed.append({item.seq for item in items} <= seqs)
        rig.written.append(items)

    writer = TranscriptWriter(
        room.live.outbox,
        TranscriptStore(rig.db),
        rig.backend.settings(**QUICK),
        rig.metrics,
        after_write=after_write,
    )
    rig.writers.append(writer)
    writer.start()
    await room.chats(10)

    await eventually(lambda: at_once(rig.written_seqs), lambda s: len(s) >= 10)
    assert rig.written_seqs() == list(range(1, 11))
    assert all(committed)
    assert all(0 < len(batch) <= QUICK["transcript_batch_max"] for batch in rig.written)
    assert {item.data for batch in rig.written for item in batch} == {
        logged.data for logged in room.logged
    }


async def test_the_log_seed_continues_above_the_persisted_history(rig: Rig) -> None:
    room, store = rig.room, TranscriptStore(rig.db)
    assert await store.max_seq(room.session_id) == 0
    await room.chats(3)
    assert await rig.writer(start=False).flush_once(wait_s=1.0) == 3

    assert await store.max_seq(room.session_id) == 3 + EPOCH_GAP


# -- the database goes away ------------------------------------------------------------------


@pytest.fixture
async def relayed_db(services_backend: Any) -> AsyncIterator[tuple[Relay, Database]]:
    """PostgreSQL behind a relay the test can cut, and a session factory through it."""
    url = services_backend.database_url
    parts = urlsplit(url.replace("+asyncpg", ""))
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    await relay.start()
    engine = create_engine(url.replace(f":{parts.port}/", f":{relay.port}/"))
    try:
        yield relay, session_factory(engine)
    finally:
        relay.restore()
        await engine.dispose()
        await relay.stop()


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_events_written_during_a_database_outage_are_stored_once_it_is_back(
    rig: Rig, relayed_db: tuple[Relay, Database]
) -> None:
    relay, through_relay = relayed_db
    room, store = rig.room, TranscriptStore(through_relay)
    rig.writer(store)
    await room.chats(2, tag="before")
    await eventually(lambda: stored_seqs(rig.db, room.session_id), lambda s: s == [1, 2])

    relay.cut()
    await room.chats(7, tag="during")
    # The writer tried, failed and keeps the events: nothing reaches the database meanwhile.
    await eventually(lambda: at_once(rig.failures), lambda n: n >= 2)
    assert await stored_seqs(rig.db, room.session_id) == [1, 2]
    with pytest.raises(LiveStateUnavailable):
        await store.max_seq(room.session_id)
    relay.restore()
    await room.chats(2, tag="after")

    seqs = await eventually(lambda: stored_seqs(rig.db, room.session_id), lambda s: len(s) >= 11)
    assert seqs == list(range(1, 12))
    assert sorted(set(rig.written_seqs())) == list(range(1, 12))
    rows = await stored(rig.db, room.session_id)
    assert [row.body for row in rows] == [logged.data for logged in room.logged]
