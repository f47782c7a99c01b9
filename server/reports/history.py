"""A user's study history as a dense series of day or week buckets, counted in the database.

Each figure is one grouped statement whose rows are per bucket, not per event:

- questions and quiz answers: the user's ``ask`` and ``quiz.result`` events, found by the
  ``(user_id, created_at)`` index;
- tokens: the usage of the ``agent.done`` that ended each of the user's asks (same session,
  same ``turn_id``), counted in the bucket of the ask;
- study minutes: the user's time in rooms. A ``presence`` join opens an interval that the
  user's next presence event in that session closes; with none, it lasts until the session
  ended, or until now while it is active. Intervals are cut at bucket edges.

A process that dies without announcing a departure leaves the interval open until the user's
next presence event in that session: the transcript cannot tell a silent crash from a stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import StudySession, TranscriptEvent, UtcDateTime
from server.reports.sql import epoch_seconds, floor_int, json_doc, json_flag, json_int, json_text
from server.reports.window import Window

ASK = "ask"
DONE = "agent.done"
PRESENCE = "presence"
QUIZ_RESULT = "quiz.result"


@dataclass(frozen=True, slots=True)
class BucketTotals:
    bucket_start: datetime
    study_minutes: float
    questions: int
    quiz_answers: int
    quiz_accuracy: float | None
    tokens: int


@dataclass(slots=True)
class _Tally:
    seconds: float = 0.0
    questions: int = 0
    answers: int = 0
    correct: int = 0
    tokens: int = 0


class _Query:
    """The statements of one user's series over one window."""

    def __init__(self, user_id: int, window: Window, now: datetime) -> None:
        self.user_id = user_id
        self.window = window
        self.now = now
        # Floats: whole seconds below 2**53 are exact, and the division must not truncate.
        self.origin = literal(float(window.origin_epoch), Float)
        self.width = literal(float(window.width_s), Float)
        self.start = literal(window.origin, UtcDateTime)
        self.end = literal(window.end, UtcDateTime)

    def bucket(self, when: Any) -> Any:
        """Index of the bucket holding ``when``, which must not precede the window."""
        return floor_int((epoch_seconds(when) - self.origin) / self.width)

    def events(self) -> Any:
        """(bucket, type, count, correct) of the user's asks and quiz answers."""
        t = TranscriptEvent
        index = self.bucket(t.created_at).label("bucket")
        correct = case((t.type == QUIZ_RESULT, json_flag(json_doc(t.body), "correct")))
        return (
            select(index, t.type, func.count(), func.sum(correct))
            .where(
                t.user_id == self.user_id,
                t.created_at >= self.start,
                t.created_at < self.end,
                t.type.in_((ASK, QUIZ_RESULT)),
            )
            .group_by(index, t.type)
        )

    def tokens(self) -> Any:
        """(bucket, tokens) of the answers to the user's asks, by the time of the ask."""
        t = TranscriptEvent
        asked_in = (
            select(t.session_id)
            .where(
                t.user_id == self.user_id,
                t.type == ASK,
                t.created_at >= self.start,
                t.created_at < self.end,
            )
            .distinct()
        )
        # Each frame is parsed once, then read for its turn and its usage.
        rows = (
            select(t.session_id, t.type, t.user_id, t.created_at, json_doc(t.body).label("doc"))
            .where(t.session_id.in_(asked_in), t.type.in_((ASK, DONE)))
            .cte("turn_events")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        mine = (rows.c.type == ASK) & (rows.c.user_id == self.user_id)
        used = json_int(rows.c.doc, "usage", "tokens_in") + json_int(
            rows.c.doc, "usage", "tokens_out"
        )
        # A turn's ask and its terminal event share (session_id, turn_id): grouping by them
        # pairs every ask with its answer in one sort, instead of a lookup per ask.
        turns = (
            select(
                func.max(case((mine, rows.c.created_at))).label("asked_at"),
                func.sum(case((rows.c.type == DONE, used))).label("tokens"),
            )
            .group_by(rows.c.session_id, json_text(rows.c.doc, "turn_id"))
            .subquery()
        )
        index = self.bucket(turns.c.asked_at).label("bucket")
        return (
            select(index, func.sum(turns.c.tokens))
            .where(
                turns.c.asked_at >= self.start,
                turns.c.asked_at < self.end,
                turns.c.tokens.is_not(None),
            )
            .group_by(index)
        )

    def study(self) -> Any:
        """(bucket, seconds) the user spent in rooms, intervals cut at bucket edges."""
        t, s = TranscriptEvent, StudySession
        presence = (
            select(
                t.session_id,
                json_text(json_doc(t.body), "event").label("event"),
                t.created_at.label("opened_at"),
                func.lead(t.created_at)
                .over(partition_by=t.session_id, order_by=t.seq)
                .label("closed_at"),
            )
            .where(t.user_id == self.user_id, t.type == PRESENCE, t.created_at < self.end)
            .subquery()
        )
        closed_at = func.coalesce(presence.c.closed_at, s.ended_at, literal(self.now, UtcDateTime))
        spans = (
            select(
                epoch_seconds(presence.c.opened_at).label("lo"),
                epoch_seconds(closed_at).label("hi"),
            )
            .join(s, s.id == presence.c.session_id)
            .where(presence.c.event == "join")
            .subquery()
        )
        # The bucket numbers 0..count-1, made by the database rather than sent as parameters.
        numbers = select(literal(0, BigInteger).label("i")).cte("numbers", recursive=True)
        numbers = numbers.union_all(
            select(numbers.c.i + 1).where(numbers.c.i < self.window.count - 1)
        )
        lo_edge = self.origin + numbers.c.i * self.width
        hi_edge = lo_edge + self.width
        upper = case((spans.c.hi < hi_edge, spans.c.hi), else_=hi_edge)
        lower = case((spans.c.lo > lo_edge, spans.c.lo), else_=lo_edge)
        return (
            select(numbers.c.i, func.sum(upper - lower))
            .select_from(numbers)
            .join(spans, (spans.c.lo < hi_edge) & (spans.c.hi > lo_edge))
            .group_by(numbers.c.i)
        )


async def study_history(
    db: AsyncSession, user_id: int, window: Window, now: datetime
) -> list[BucketTotals]:
    """Every bucket of ``window`` in order, with zeros where the user did nothing.

    Accuracy is null in a bucket without quiz answers rather than 0: nobody was wrong.
    """
    query = _Query(user_id, window, now)
    tallies = [_Tally() for _ in range(window.count)]

    def at(index: Any) -> _Tally | None:
        # The database rounds timestamps to milliseconds in SQLite: an event in the last
        # half millisecond of the window can land one past its end.
        i = int(index)
        return tallies[i] if 0 <= i < window.count else None

    for index, event_type, count, correct in await db.execute(query.events()):
        tally = at(index)
        if tally is None:
            continue
        if event_type == ASK:
            tally.questions += int(count)
        else:
            tally.answers += int(count)
            tally.correct += int(correct or 0)
    for index, tokens in await db.execute(query.tokens()):
        tally = at(index)
        if tally is not None:
            tally.tokens += int(tokens or 0)
    for index, seconds in await db.execute(query.study()):
        tally = at(index)
        if tally is not None:
            tally.seconds += float(seconds or 0.0)

    # Minutes to a thousandth (60 ms): SQLite's time arithmetic is only good to about 10 us,
    # and noise in the last digits would make equal stays look different.
    return [
        BucketTotals(
            bucket_start=start,
            study_minutes=round(tally.seconds / 60.0, 3),
            questions=tally.questions,
            quiz_answers=tally.answers,
            quiz_accuracy=tally.correct / tally.answers if tally.answers else None,
            tokens=tally.tokens,
        )
        for start, tally in zip(window.starts(), tallies, strict=True)
    ]
