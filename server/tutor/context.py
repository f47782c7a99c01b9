"""What the model is told for one ask: the topic, the members' goals, passages, the history.

Grounding comes first: the passages that best match the question are retrieved for every ask
and put in the request, whether or not the model can search by itself (``search_materials``
stays for follow-up searches); a model that never calls a tool still answers from the
group's materials. The conversation comes from the room log, so every process builds the same
prompt for the same ask. The database being down costs the topic, the goals and the passages,
not the answer. :mod:`server.tutor.budget` fits the result into the model's window.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.sessions import TutorMode
from server.db.errors import is_database_unavailable
from server.db.models import Membership, StudySession, Topic, User
from server.db.progress_models import Goal
from server.live.ports import RoomLog
from server.topics import topic_payload
from server.tutor.budget import Prompt
from server.tutor.knowledge import MaterialSearch, Passage
from server.tutor.prompt import history_messages, system_message
from server.tutor.provider import Message
from server.tutor.tools import SEARCH_LIMIT
from server.tutor.turn import Ask

# Room events read back to find the recent conversation; deltas make up most of a log.
_HISTORY_WINDOW = 400
_GOALS_SHOWN = 20


async def session_topic(
    db: async_sessionmaker[AsyncSession], session_id: int
) -> dict[str, Any] | None:
    """The session's topic as room frames carry it; None without one or without a database."""
    try:
        async with db() as session:
            study = await session.get(StudySession, session_id)
            if study is None or study.topic_id is None:
                return None
            topic = await session.get(Topic, study.topic_id)
            return topic_payload(topic) if topic is not None else None
    except Exception as exc:
        if is_database_unavailable(exc):
            return None  # answer without the topic rather than not at all
        raise


async def session_mode(db: async_sessionmaker[AsyncSession], session_id: int) -> TutorMode:
    """How the session's tutor teaches; the default when the database cannot say."""
    try:
        async with db() as session:
            mode = await session.scalar(
                select(StudySession.tutor_mode).where(StudySession.id == session_id)
            )
    except Exception as exc:
        if is_database_unavailable(exc):
            return TutorMode.SOCRATIC  # teach as usual rather than refuse over an outage
        raise
    try:
        return TutorMode(mode or TutorMode.SOCRATIC)
    except ValueError:
        return TutorMode.SOCRATIC


class PromptContext:
    def __init__(
        self,
        *,
        log: RoomLog,
        db: async_sessionmaker[AsyncSession],
        search: MaterialSearch,
        history_events: int,
    ) -> None:
        self._log = log
        self._db = db
        self._search = search
        self._history_events = history_events

    async def topic(self, session_id: int) -> dict[str, Any] | None:
        return await session_topic(self._db, session_id)

    async def mode(self, session_id: int) -> TutorMode:
        return await session_mode(self._db, session_id)

    async def prompt(
        self,
        ask: Ask,
        topic: dict[str, Any] | None,
        *,
        tools: bool,
        mode: TutorMode = TutorMode.SOCRATIC,
    ) -> Prompt:
        """Everything ``ask`` could be told, before it is fitted to the model's window."""
        history: list[str] = []
        if self._history_events:
            start = max(0, ask.seq - 1 - _HISTORY_WINDOW)
            events = await self._log.read(ask.session_id, start, _HISTORY_WINDOW)
            history = [e.data for e in events if e.seq < ask.seq]
        goals = await self._goals(ask.session_id, topic) if topic is not None else []
        passages = await self._passages(int(topic["id"]), ask.text) if topic is not None else []
        return Prompt(
            system=system_message(topic, tools=tools, goals=goals, mode=mode),
            passages=tuple(passages),
            history=tuple(history_messages(history, self._history_events)),
            question=Message("user", f"{ask.user.name}: {ask.text}", name=ask.user.name),
        )

    async def _passages(self, topic_id: int, question: str) -> list[Passage]:
        try:
            return await self._search.search(topic_id, question, SEARCH_LIMIT)
        except Exception as exc:
            if is_database_unavailable(exc):
                return []
            raise

    async def _goals(self, session_id: int, topic: dict[str, Any]) -> list[str]:
        """The session members' goals on the topic, as one line each."""
        query = (
            select(User.display_name, Goal.title, Goal.metric, Goal.target, Goal.due_date)
            .join(Membership, Membership.user_id == Goal.user_id)
            .join(User, User.id == Goal.user_id)
            .where(Membership.session_id == session_id, Goal.topic_id == int(topic["id"]))
            .order_by(Goal.id)
            .limit(_GOALS_SHOWN)
        )
        try:
            async with self._db() as db:
                rows = (await db.execute(query)).all()
        except Exception as exc:
            if is_database_unavailable(exc):
                return []
            raise
        return [
            f"{name}: {title} ({metric} {target:g}"
            + (f", by {due.isoformat()})" if due is not None else ")")
            for name, title, metric, target, due in rows
        ]
