"""Reports: one session's numbers, and the caller's study history over time.

Both are computed by the database from the persisted transcript on every request, so they
trail the live room by as long as the transcript does (see ``server.rooms.transcript``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.exceptions import RequestValidationError

from server.api.deps import CurrentUser, DbDep, get_member_session
from server.api.report_schemas import HistoryBucket, IsoInstant, SessionReport
from server.api.schemas import error_responses
from server.db.models import utcnow
from server.reports.history import study_history
from server.reports.session_report import session_totals
from server.reports.window import BucketKind, WindowError, history_window

router = APIRouter(tags=["reports"])

# Ids are 64-bit in both databases; a larger number cannot name a session, and the drivers
# refuse to even send it.
SessionId = Annotated[int, Path(le=2**63 - 1)]


@router.get(
    "/api/sessions/{session_id}/report",
    response_model=SessionReport,
    responses=error_responses(401, 403, 404),
)
async def read_session_report(session_id: SessionId, user: CurrentUser, db: DbDep) -> SessionReport:
    """The session's duration, participants, messages, questions, tutor turns and their
    tokens and time to first token, and quiz answers, as of now. Members only."""
    session = await get_member_session(db, user, session_id)
    totals = await session_totals(db, session, utcnow())
    return SessionReport(**asdict(totals))


@router.get(
    "/api/metrics/history",
    response_model=list[HistoryBucket],
    responses=error_responses(401),
)
async def read_history(
    user: CurrentUser,
    db: DbDep,
    start: Annotated[
        IsoInstant | None,
        Query(
            alias="from",
            description="ISO 8601 date or date-time (UTC unless it has an offset); "
            "default: 30 days before 'to'.",
        ),
    ] = None,
    end: Annotated[
        IsoInstant | None,
        Query(
            alias="to",
            description="ISO 8601 date or date-time (UTC unless it has an offset); default: now. "
            "At most 366 days after 'from'.",
        ),
    ] = None,
    bucket: Annotated[BucketKind, Query(description="Bucket width.")] = "day",
) -> list[HistoryBucket]:
    """The caller's study time, questions, quiz answers and tutor tokens, per UTC day or week
    (weeks start on Monday).

    Every bucket that contains an instant from 'from' to 'to' is listed, in order, also those
    without activity; each covers its whole day or week.
    """
    now = utcnow()
    try:
        window = history_window(start, end, bucket, now)
    except WindowError as exc:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", exc.field), "msg": str(exc), "input": None}]
        ) from None
    series = await study_history(db, user.id, window, now)
    return [HistoryBucket(**asdict(point)) for point in series]
