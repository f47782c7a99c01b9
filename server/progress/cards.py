"""Quiz cards: the quizzes the tutor posed on a topic, and which of them are due for review.

A card is a quiz kept with its answer. When it is due is the learner's FSRS schedule on the
card's concept (``concept_progress.next_review_at``, written by the projection): one mastery
model, whichever quiz reviewed the concept. A concept that is due is reviewed with its newest
card.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.errors import is_database_unavailable
from server.db.progress_models import ConceptProgress, QuizCard
from server.progress.concepts import concept_name

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Card:
    quiz_id: str
    concept: str
    question: str
    choices: list[str]
    answer: int


@dataclass(frozen=True, slots=True)
class Schedule:
    due: int
    """Cards due now (or within the review-ahead window)."""
    next_review_at: datetime | None
    """When the next card after those falls due; None if there is none."""


class QuizCards:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def keep(
        self,
        topic_id: int,
        quiz_id: str,
        concept: str,
        question: str,
        choices: list[str],
        answer: int,
    ) -> None:
        """Keep a quiz the tutor just posed. A concept the projection cannot name (so
        cannot schedule) makes no card; nor does a database outage (logged)."""
        name = concept_name(concept)
        if name is None:
            return
        card = QuizCard(
            quiz_id=quiz_id,
            topic_id=topic_id,
            concept_key=name.key,
            concept=concept,
            question=question,
            choices=json.dumps(choices),
            answer=answer,
        )
        try:
            async with self._db() as db:
                db.add(card)
                await db.commit()
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            log.warning("quiz %s kept in the room but not as a card: database unavailable", quiz_id)

    async def due(
        self, topic_id: int, user_ids: list[int], until: datetime, limit: int
    ) -> list[Card]:
        """The newest card of each concept due for any of ``user_ids`` by ``until``,
        soonest due first."""
        due = (
            select(ConceptProgress.concept_key, func.min(ConceptProgress.next_review_at))
            .where(
                ConceptProgress.topic_id == topic_id,
                ConceptProgress.user_id.in_(user_ids),
                ConceptProgress.next_review_at <= until,
            )
            .group_by(ConceptProgress.concept_key)
            .order_by(func.min(ConceptProgress.next_review_at))
        )
        cards: list[Card] = []
        async with self._db() as db:
            for key, _ in (await db.execute(due)).all():
                row = await db.scalar(
                    select(QuizCard)
                    .where(QuizCard.topic_id == topic_id, QuizCard.concept_key == key)
                    .order_by(QuizCard.id.desc())
                    .limit(1)
                )
                if row is not None:
                    cards.append(
                        Card(
                            row.quiz_id,
                            row.concept,
                            row.question,
                            json.loads(row.choices),
                            row.answer,
                        )
                    )
                    if len(cards) == limit:
                        break
        return cards

    async def schedule(self, topic_id: int, user_id: int, until: datetime) -> Schedule:
        """How many of the learner's cards on the topic are due by ``until``, and when the
        next one after that is."""
        has_card = (
            select(QuizCard.id)
            .where(
                QuizCard.topic_id == topic_id, QuizCard.concept_key == ConceptProgress.concept_key
            )
            .exists()
        )
        mine = (
            ConceptProgress.topic_id == topic_id,
            ConceptProgress.user_id == user_id,
            ConceptProgress.next_review_at.is_not(None),
            has_card,
        )
        async with self._db() as db:
            due = await db.scalar(
                select(func.count()).where(*mine, ConceptProgress.next_review_at <= until)
            )
            later = await db.scalar(
                select(func.min(ConceptProgress.next_review_at)).where(
                    *mine, ConceptProgress.next_review_at > until
                )
            )
        return Schedule(int(due or 0), later)
