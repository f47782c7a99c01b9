"""Study data: goals, per-concept progress, and the projection's bookkeeping.

Concept rows are derived from the transcript (see :mod:`server.progress.projector`); goals are
what users ask for, their progress is computed from history whenever they are read.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, BigId, UtcDateTime, utcnow


class Goal(Base):
    __tablename__ = "goals"
    __table_args__ = (Index("ix_goals_user_topic", "user_id", "topic_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(32))
    target: Mapped[float] = mapped_column(Float)
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Progress counts what happened from this moment on: by default when the goal was set.
    since: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ConceptProgress(Base):
    """How well one user knows one concept of one topic.

    ``concept_key`` is the normalized name that identifies the concept; ``concept`` is how it
    was first written. ``card`` is the FSRS card (JSON) once the concept has been quizzed.
    """

    __tablename__ = "concept_progress"
    __table_args__ = (
        UniqueConstraint("user_id", "topic_id", "concept_key", name="uq_concept_progress_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    concept_key: Mapped[str] = mapped_column(String(100))
    concept: Mapped[str] = mapped_column(String(100))
    mastery: Mapped[float] = mapped_column(Float)
    reviews: Mapped[int] = mapped_column(Integer, default=0)
    card: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_review_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ProjectionCursor(Base):
    """How far a projection of the transcript has got.

    Every relevant transcript row with ``id <= last_id`` has been applied. ``pending_id`` is
    the newest transcript id seen at ``pending_at``; it becomes ``last_id`` once no write that
    was in flight then can still be uncommitted (see the projector).
    """

    __tablename__ = "projection_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger)
    pending_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pending_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ProjectedEvent(Base):
    """A transcript row above its projection's ``last_id`` that has already been applied."""

    __tablename__ = "projected_events"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    transcript_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class QuizCard(Base):
    """A quiz the tutor posed on a topic, kept so it can be posed again when it is due.

    Its schedule is the learner's FSRS card on its concept (``concept_progress``): one mastery
    model, whichever quiz reviewed it.
    """

    __tablename__ = "quiz_cards"
    __table_args__ = (Index("ix_quiz_cards_topic_concept", "topic_id", "concept_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    quiz_id: Mapped[str] = mapped_column(String(32), unique=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    concept_key: Mapped[str] = mapped_column(String(100))
    concept: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)
    choices: Mapped[str] = mapped_column(Text)  # JSON list of strings
    answer: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
