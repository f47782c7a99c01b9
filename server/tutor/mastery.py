"""The mastery a live ``progress`` event reports after a quiz answer.

It is the projection's own rule (:func:`server.progress.concepts.review`, FSRS) applied to the
freshest card known: the projected one in the database, or the one this session last
reviewed, which the projection may not have caught up with yet. So once the transcript is
projected, ``/api/progress`` shows the mastery the room was told. (The projection reviews at
the transcript's write time, the live event a moment earlier; reviews a day or more apart can
differ in the last digit.)
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.errors import is_database_unavailable
from server.db.progress_models import ConceptProgress
from server.live.ports import TutorState
from server.progress.concepts import ConceptName, concept_name, latest_card, review


class LiveMastery:
    def __init__(self, state: TutorState, db: async_sessionmaker[AsyncSession]) -> None:
        self._state = state
        self._db = db

    async def review(
        self, session_id: int, user_id: int, topic_id: int | None, concept: str, correct: bool
    ) -> float:
        """Review the learner's card on ``concept`` with this answer; the mastery after it.

        Without a topic or a usable concept name the projection keeps nothing, so the answer
        is scored as a first review.
        """
        now = datetime.now(UTC)
        name = concept_name(concept)
        if topic_id is None or name is None:
            return review(None, correct, now).mastery
        card_id = f"{user_id}:{topic_id}:{name.key}"
        card = latest_card(
            await self._projected_card(user_id, topic_id, name),
            await self._state.get_card(session_id, card_id),
        )
        reviewed = review(card, correct, now)
        await self._state.put_card(session_id, card_id, reviewed.card)
        return reviewed.mastery

    async def _projected_card(self, user_id: int, topic_id: int, name: ConceptName) -> str | None:
        query = select(ConceptProgress.card).where(
            ConceptProgress.user_id == user_id,
            ConceptProgress.topic_id == topic_id,
            ConceptProgress.concept_key == name.key,
        )
        try:
            async with self._db() as db:
                card: str | None = await db.scalar(query)
                return card
        except Exception as exc:
            if is_database_unavailable(exc):
                return None  # the session's own card still counts what happened here
            raise
