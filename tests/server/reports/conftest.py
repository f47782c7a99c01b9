"""Fixtures for the report tests: a real server per module and backend, and a way to write
transcript history with exact timestamps.

History is written the way the server writes it: room events built from the protocol's
frame classes, numbered with ``encode_with_seq``, stored by the server's own transcript store.
Only the clock is chosen by the test, through each event's ``ts``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from protocol.events import (
    AgentDoneEvent,
    AgentErrorEvent,
    AgentStartEvent,
    AskEvent,
    ChatEvent,
    PresenceEvent,
    QuizEvent,
    QuizResultEvent,
    RoomEvent,
    TurnUsage,
    UserRef,
    encode_event,
    encode_with_seq,
)
from server.db.engine import create_engine, session_factory
from server.db.models import StudySession
from server.live.ports import OutboxItem
from server.rooms.transcript import TranscriptStore
from tests.server.api.conftest import Account, Api


@pytest.fixture(scope="module", params=["embedded", "services"])
def report_backend(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture(scope="module")
async def report_server(report_backend: Any) -> AsyncIterator[Any]:
    from server.runner import start_in_process

    port, stop = await start_in_process(report_backend.settings())
    try:
        yield SimpleNamespace(base_url=f"http://127.0.0.1:{port}")
    finally:
        await stop()


@pytest.fixture
async def client(report_server: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=report_server.base_url, timeout=20.0) as c:
        yield c


@pytest.fixture
def api(client: httpx.AsyncClient, unique: Callable[[str], str]) -> Api:
    return Api(client, unique)


def iso(when: datetime) -> str:
    """An event timestamp as the server writes one (``protocol.events.now_iso``)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ref(who: Account) -> UserRef:
    return UserRef(id=who.id, name=who.display_name)


class Frames:
    """Room events of the shapes the server emits, at chosen instants."""

    @staticmethod
    def join(who: Account, at: datetime) -> PresenceEvent:
        return PresenceEvent(event="join", user=ref(who), ts=iso(at))

    @staticmethod
    def leave(who: Account, at: datetime) -> PresenceEvent:
        return PresenceEvent(event="leave", user=ref(who), ts=iso(at))

    @staticmethod
    def chat(who: Account, at: datetime, text: str = "hello") -> ChatEvent:
        return ChatEvent(message_id=uuid.uuid4().hex, user=ref(who), text=text, ts=iso(at))

    @staticmethod
    def ask(who: Account, at: datetime, turn_id: str, text: str = "why?") -> AskEvent:
        return AskEvent(turn_id=turn_id, user=ref(who), text=text, ts=iso(at))

    @staticmethod
    def start(turn_id: str, in_reply_to: int, at: datetime) -> AgentStartEvent:
        return AgentStartEvent(turn_id=turn_id, in_reply_to=in_reply_to, ts=iso(at))

    @staticmethod
    def done(
        turn_id: str, at: datetime, tokens_in: int, tokens_out: int, ttft_ms: int | None
    ) -> AgentDoneEvent:
        return AgentDoneEvent(
            turn_id=turn_id,
            text="Because of the light.",
            usage=TurnUsage(tokens_in=tokens_in, tokens_out=tokens_out),
            citations=[],
            stopped=False,
            model="scripted",
            ttft_ms=ttft_ms,
            ts=iso(at),
        )

    @staticmethod
    def error(turn_id: str, at: datetime) -> AgentErrorEvent:
        return AgentErrorEvent(
            turn_id=turn_id, code="model_error", message="the model failed", ts=iso(at)
        )

    @staticmethod
    def quiz(quiz_id: str, at: datetime) -> QuizEvent:
        return QuizEvent(
            quiz_id=quiz_id, question="Which gas?", choices=["N2", "O2", "He"], ts=iso(at)
        )

    @staticmethod
    def result(who: Account, quiz_id: str, correct: bool, at: datetime) -> QuizResultEvent:
        return QuizResultEvent(
            quiz_id=quiz_id, user=ref(who), choice=1 if correct else 0, correct=correct, ts=iso(at)
        )


class Seeder:
    """Writes transcripts and session times straight into the test backend's database."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url)
        self.db = session_factory(self.engine)
        self.store = TranscriptStore(self.db)
        self._seq: defaultdict[int, int] = defaultdict(int)

    async def events(self, session_id: int, *events: RoomEvent) -> list[int]:
        """Append ``events`` to the session's transcript in order; their seqs."""
        items = []
        for event in events:
            self._seq[session_id] += 1
            seq = self._seq[session_id]
            data = encode_with_seq(seq, encode_event(event))
            items.append(OutboxItem(session_id, seq, data, receipt=str(seq)))
        await self.store.write(items)
        return [item.seq for item in items]

    async def times(
        self, session_id: int, created_at: datetime, ended_at: datetime | None = None
    ) -> None:
        async with self.db() as db:
            await db.execute(
                update(StudySession)
                .where(StudySession.id == session_id)
                .values(
                    created_at=created_at,
                    ended_at=ended_at,
                    status="ended" if ended_at is not None else "active",
                )
            )
            await db.commit()


@pytest.fixture(scope="module")
async def seeder(report_backend: Any) -> AsyncIterator[Seeder]:
    made = Seeder(report_backend.database_url)
    yield made
    await made.engine.dispose()
