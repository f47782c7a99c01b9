"""Grading quiz answers: one answer per learner and quiz, then ``quiz.result`` and ``progress``.

The first answer is claimed atomically in the live state, so two sockets (or processes) of
one learner cannot both be graded. A learner's answers in one session are graded one at a
time here, so each ``progress`` event follows its own ``quiz.result`` (the projection pairs
them that way) and reviews the card the previous answer left.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.errors import ErrorCode
from protocol.events import ProgressEvent, QuizResultEvent, UserRef, now_iso
from protocol.frames import AnswerFrame, FrameError
from server.live.ports import TutorState
from server.rooms.hub import Hub
from server.tutor.context import session_topic
from server.tutor.mastery import LiveMastery


@dataclass
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class QuizGrader:
    def __init__(self, state: TutorState, hub: Hub, db: async_sessionmaker[AsyncSession]) -> None:
        self._state = state
        self._hub = hub
        self._db = db
        self._mastery = LiveMastery(state, db)
        # Only learners being graded right now: an entry goes when its last answer is done.
        self._grading: dict[tuple[int, int], _Turn] = {}

    async def answer(self, session_id: int, user: UserRef, frame: AnswerFrame) -> FrameError | None:
        """Grade ``user``'s answer; a refusal (unknown quiz, bad choice, second answer) is
        returned, not raised."""
        key = (session_id, user.id)
        turn = self._grading.setdefault(key, _Turn())
        turn.waiting += 1
        try:
            async with turn.lock:
                return await self._grade(session_id, user, frame)
        finally:
            turn.waiting -= 1
            if turn.waiting == 0:
                del self._grading[key]

    async def _grade(self, session_id: int, user: UserRef, frame: AnswerFrame) -> FrameError | None:
        raw = await self._state.get_quiz(session_id, frame.quiz_id)
        if raw is None:
            return FrameError(ErrorCode.NOT_FOUND, "no such quiz in this session")
        key = json.loads(raw)
        if frame.choice >= int(key["choices"]):
            return FrameError(ErrorCode.INVALID_FRAME, "choice is not one of the quiz's choices")
        if not await self._state.claim_answer(session_id, frame.quiz_id, user.id, frame.choice):
            return FrameError(ErrorCode.NOT_ALLOWED, "you already answered this quiz")
        correct = frame.choice == int(key["answer"])
        concept = str(key["concept"])
        await self._hub.publish(
            session_id,
            QuizResultEvent(
                quiz_id=frame.quiz_id, user=user, choice=frame.choice, correct=correct, ts=now_iso()
            ),
        )
        topic = await session_topic(self._db, session_id)
        topic_id = int(topic["id"]) if topic is not None else None
        mastery = await self._mastery.review(session_id, user.id, topic_id, concept, correct)
        await self._hub.publish(
            session_id,
            ProgressEvent(user=user, concept=concept, mastery=mastery, source="quiz", ts=now_iso()),
        )
        return None
