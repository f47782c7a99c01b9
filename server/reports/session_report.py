"""A session's report, counted by the database over the session's transcript.

Two statements whatever the transcript's length: counts grouped by event type, and one
statement for the rest (token sums and the median time to first token over the answers, the
share of right quiz answers, the distinct participants). Every part narrows by
``(session_id, type)``, the transcript's index, and reads JSON only of the event types that
carry the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import StudySession, TranscriptEvent
from server.reports.sql import json_doc, json_flag, json_int, json_text

CHAT = "chat"
ASK = "ask"
PRESENCE = "presence"
DONE = "agent.done"
ERROR = "agent.error"
QUIZ_RESULT = "quiz.result"
_COUNTED = (CHAT, ASK, DONE, ERROR, QUIZ_RESULT)


@dataclass(frozen=True, slots=True)
class SessionTotals:
    duration_s: float
    participants: int
    messages: int
    questions: int
    tutor_turns: int
    tokens_in: int
    tokens_out: int
    ttft_ms_p50: float | None
    quiz_answers: int
    quiz_accuracy: float | None


async def session_totals(db: AsyncSession, session: StudySession, now: datetime) -> SessionTotals:
    """The report of ``session`` as of ``now``.

    The duration runs from the session's creation to its end (``now`` while it is active),
    not from its first to its last event: a session is being studied in while it is open,
    whether or not anyone speaks. The median of an even count is the mean of the middle two.
    Accuracy is null, not 0, without quiz answers: nobody was wrong.
    """
    t = TranscriptEvent
    of_session = t.session_id == session.id
    counts: dict[str, int] = {
        event_type: int(count)
        for event_type, count in await db.execute(
            select(t.type, func.count()).where(of_session, t.type.in_(_COUNTED)).group_by(t.type)
        )
    }

    # Each answer's frame is parsed once; its usage and time to first token are then read
    # from the parsed document.
    done = (
        select(json_doc(t.body).label("doc"))
        .where(of_session, t.type == DONE)
        .cte("done")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    turns = select(
        json_int(done.c.doc, "usage", "tokens_in").label("tokens_in"),
        json_int(done.c.doc, "usage", "tokens_out").label("tokens_out"),
        json_int(done.c.doc, "ttft_ms").label("ttft"),
    ).cte("turns")
    ranked = (
        select(
            turns.c.ttft,
            func.row_number().over(order_by=turns.c.ttft).label("position"),
            func.count().over().label("timed"),
        )
        .where(turns.c.ttft.is_not(None))
        .subquery()
    )
    # Positions (n+1)/2 and (n+2)/2 in integer division: the middle one, or the middle two.
    median = select(func.avg(ranked.c.ttft)).where(
        or_(
            ranked.c.position == (ranked.c.timed + 1) // 2,
            ranked.c.position == (ranked.c.timed + 2) // 2,
        )
    )
    correct = select(func.sum(json_flag(json_doc(t.body), "correct"))).where(
        of_session, t.type == QUIZ_RESULT
    )
    joined = and_(t.type == PRESENCE, json_text(json_doc(t.body), "event") == "join")
    participants = select(func.count(func.distinct(t.user_id))).where(
        of_session, t.user_id.is_not(None), or_(t.type.in_((CHAT, ASK)), joined)
    )
    row = (
        await db.execute(
            select(
                func.sum(turns.c.tokens_in),
                func.sum(turns.c.tokens_out),
                median.scalar_subquery(),
                correct.scalar_subquery(),
                participants.scalar_subquery(),
            )
        )
    ).one()
    tokens_in, tokens_out, ttft_p50, right, people = row

    answers = counts.get(QUIZ_RESULT, 0)
    ended = session.ended_at or now
    return SessionTotals(
        duration_s=round(max((ended - session.created_at).total_seconds(), 0.0), 3),
        participants=int(people or 0),
        messages=counts.get(CHAT, 0),
        questions=counts.get(ASK, 0),
        tutor_turns=counts.get(DONE, 0) + counts.get(ERROR, 0),
        tokens_in=int(tokens_in or 0),
        tokens_out=int(tokens_out or 0),
        ttft_ms_p50=float(ttft_p50) if ttft_p50 is not None else None,
        quiz_answers=answers,
        quiz_accuracy=int(right or 0) / answers if answers else None,
    )
