"""Time present in a room, from its ``presence`` join and leave events.

Presence announces a user's first connection to a session (``join``) and the end of their
last one (``leave``), so the user was present from each join to the leave after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PresenceMark:
    session_id: int
    seq: int
    at: datetime
    event: str  # "join" or "leave"
    session_ended_at: datetime | None


def seconds_present(marks: Iterable[PresenceMark], since: datetime, now: datetime) -> float:
    """Seconds present between ``since`` and ``now``, over marks in (session, seq) order.

    A join with no leave after it counts up to the session's end, or up to now while the
    session goes on. A second join before a leave (its leave was lost) changes nothing: the
    user was connected all along. A leave without a join is ignored.
    """
    total = 0.0
    session: int | None = None
    joined: datetime | None = None
    ended: datetime | None = None
    for mark in marks:
        if mark.session_id != session:
            total += _overlap(joined, ended or now, since, now)
            session, joined, ended = mark.session_id, None, mark.session_ended_at
        if mark.event == "join" and joined is None:
            joined = mark.at
        elif mark.event == "leave" and joined is not None:
            total += _overlap(joined, mark.at, since, now)
            joined = None
    return total + _overlap(joined, ended or now, since, now)


def _overlap(start: datetime | None, end: datetime, since: datetime, now: datetime) -> float:
    if start is None:
        return 0.0
    return max(0.0, (min(end, now) - max(start, since)).total_seconds())
