"""How far a study goal has come, computed from history each time it is read.

A goal counts its owner's activity in the sessions on its topic from its ``since`` on (when
the goal was set, unless its owner chose an earlier moment, e.g. the start of the week):

* ``study_minutes``: minutes present in those rooms (see :mod:`server.progress.presence`);
* ``questions_asked``: their ``ask`` events;
* ``quiz_accuracy``: correct / answered over their ``quiz.result`` events (0 with no answers);
* ``concepts_mastered``: their concepts on the topic at mastery :data:`MASTERED` or more.

A session counts for the topic it has now. Progress is ``min(1, value / target)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import JSON, case, cast, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import StudySession, TranscriptEvent
from server.db.progress_models import ConceptProgress, Goal
from server.progress.concepts import MASTERED
from server.progress.presence import PresenceMark, seconds_present

STUDY_MINUTES: Final = "study_minutes"
QUESTIONS_ASKED: Final = "questions_asked"
QUIZ_ACCURACY: Final = "quiz_accuracy"
CONCEPTS_MASTERED: Final = "concepts_mastered"
METRICS: Final = (STUDY_MINUTES, QUESTIONS_ASKED, QUIZ_ACCURACY, CONCEPTS_MASTERED)


def progress_of(value: float, target: float) -> float:
    return min(1.0, max(0.0, value / target)) if target > 0 else 0.0


async def goal_value(db: AsyncSession, goal: Goal, now: datetime) -> float:
    """The goal's metric measured now."""
    if goal.metric == STUDY_MINUTES:
        return await _study_minutes(db, goal, now)
    if goal.metric == QUESTIONS_ASKED:
        return await _questions(db, goal)
    if goal.metric == QUIZ_ACCURACY:
        return await _accuracy(db, goal)
    if goal.metric == CONCEPTS_MASTERED:
        return await _mastered(db, goal)
    raise ValueError(f"unknown metric {goal.metric!r}")


def _body_field(db: AsyncSession, key: str) -> Any:
    """A top-level field of the stored frame, read by the database's JSON functions."""
    if db.get_bind().dialect.name == "postgresql":
        # PostgreSQL reads no field of a JSON text holding the escape \u0000 (text cannot hold
        # NUL). Swapping it for \ufffd keeps the document valid, also after a "\\".
        text = func.replace(TranscriptEvent.body, "\\u0000", "\\ufffd")
        return cast(text, JSON)[key]
    # SQLite's JSON functions take the text as it is; a CAST there would make it a number.
    return type_coerce(TranscriptEvent.body, JSON)[key]


def _in_topic_sessions(goal: Goal) -> Any:
    """The goal owner's events, in sessions on the goal's topic (joined by the caller)."""
    return (TranscriptEvent.user_id == goal.user_id) & (StudySession.topic_id == goal.topic_id)


async def _questions(db: AsyncSession, goal: Goal) -> float:
    asked = await db.scalar(
        select(func.count())
        .select_from(TranscriptEvent)
        .join(StudySession, StudySession.id == TranscriptEvent.session_id)
        .where(
            _in_topic_sessions(goal),
            TranscriptEvent.type == "ask",
            TranscriptEvent.created_at >= goal.since,
        )
    )
    return float(asked or 0)


async def _accuracy(db: AsyncSession, goal: Goal) -> float:
    correct = _body_field(db, "correct").as_boolean()
    row = (
        await db.execute(
            select(func.count(), func.coalesce(func.sum(case((correct, 1), else_=0)), 0))
            .select_from(TranscriptEvent)
            .join(StudySession, StudySession.id == TranscriptEvent.session_id)
            .where(
                _in_topic_sessions(goal),
                TranscriptEvent.type == "quiz.result",
                TranscriptEvent.created_at >= goal.since,
            )
        )
    ).one()
    answered, right = int(row[0]), int(row[1])
    return right / answered if answered else 0.0


async def _study_minutes(db: AsyncSession, goal: Goal, now: datetime) -> float:
    # Every presence mark of sessions still open at the goal's start: a join from before then
    # counts from the start on.
    rows = await db.execute(
        select(
            TranscriptEvent.session_id,
            TranscriptEvent.seq,
            TranscriptEvent.created_at,
            _body_field(db, "event").as_string(),
            StudySession.ended_at,
        )
        .select_from(TranscriptEvent)
        .join(StudySession, StudySession.id == TranscriptEvent.session_id)
        .where(
            _in_topic_sessions(goal),
            TranscriptEvent.type == "presence",
            (StudySession.ended_at.is_(None)) | (StudySession.ended_at >= goal.since),
        )
        .order_by(TranscriptEvent.session_id, TranscriptEvent.seq)
    )
    marks = (PresenceMark(*row) for row in rows)
    return seconds_present(marks, goal.since, now) / 60


async def _mastered(db: AsyncSession, goal: Goal) -> float:
    count = await db.scalar(
        select(func.count())
        .select_from(ConceptProgress)
        .where(
            ConceptProgress.user_id == goal.user_id,
            ConceptProgress.topic_id == goal.topic_id,
            ConceptProgress.mastery >= MASTERED,
        )
    )
    return float(count or 0)
