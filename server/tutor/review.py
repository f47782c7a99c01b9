"""Spaced review in the room: the quiz cards due for the members present, posed again.

A ``review`` frame needs no model call. The cards of the session's topic whose concept is due
(FSRS, see :mod:`server.progress.cards`) for anyone in the room are posted as ``quiz`` events
with ``review_of`` naming the quiz they were first; the members' answers are graded like any
quiz's, which reviews their concept and reschedules it.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.errors import ErrorCode
from protocol.events import QuizEvent, UserRef, now_iso
from protocol.frames import FrameError
from server.live.ports import Presence, TutorState
from server.progress.cards import QuizCards
from server.rooms.hub import Hub
from server.tutor.context import session_topic

# Cards posed by one review: a round the room can answer before the next.
REVIEW_MAX = 5


class Reviewer:
    def __init__(
        self,
        *,
        cards: QuizCards,
        state: TutorState,
        hub: Hub,
        presence: Presence,
        db: async_sessionmaker[AsyncSession],
        ahead_s: float,
    ) -> None:
        self._cards = cards
        self._state = state
        self._hub = hub
        self._presence = presence
        self._db = db
        self._ahead = timedelta(seconds=ahead_s)

    async def review(self, session_id: int, user: UserRef) -> FrameError | None:
        topic = await session_topic(self._db, session_id)
        if topic is None:
            return FrameError(ErrorCode.NOTHING_DUE, "this session has no topic to review")
        present = {member.id for member in await self._presence.members(session_id)}
        until = datetime.now(UTC) + self._ahead
        cards = await self._cards.due(
            int(topic["id"]), sorted(present | {user.id}), until, REVIEW_MAX
        )
        if not cards:
            return FrameError(ErrorCode.NOTHING_DUE, "no quiz card is due for anyone here")
        for card in cards:
            quiz_id = "q" + secrets.token_hex(6)
            key = {"answer": card.answer, "concept": card.concept, "choices": len(card.choices)}
            await self._state.put_quiz(session_id, quiz_id, json.dumps(key))
            await self._hub.publish(
                session_id,
                QuizEvent(
                    quiz_id=quiz_id,
                    question=card.question,
                    choices=card.choices,
                    review_of=card.quiz_id,
                    ts=now_iso(),
                ),
            )
        return None
