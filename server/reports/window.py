"""The time window of a history series: which buckets, from what instants, in UTC.

A series is dense: it has every bucket that contains an instant of ``[start, end]``, in
order, and each bucket counts its whole day or week, so a chart's last bar does not shrink
because ``end`` fell in the middle of it. Days are UTC days; weeks start on Monday, 00:00 UTC.
UTC has no daylight-saving shifts, so every bucket of a kind has the same width.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

BucketKind = Literal["day", "week"]

DEFAULT_SPAN = timedelta(days=30)
MAX_SPAN = timedelta(days=366)
# Study data cannot predate the Unix epoch, and stopping well before year 9999 leaves room to
# add a bucket's width without overflowing datetime.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
_WIDTH = {"day": timedelta(days=1), "week": timedelta(weeks=1)}


class WindowError(ValueError):
    """A window a client asked for that cannot be served; ``field`` names the bad parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Window:
    origin: datetime  # start of the first bucket
    width: timedelta
    count: int

    @property
    def end(self) -> datetime:
        """End (exclusive) of the last bucket."""
        return self.origin + self.width * self.count

    @property
    def origin_epoch(self) -> int:
        return int(self.origin.timestamp())

    @property
    def width_s(self) -> int:
        return int(self.width.total_seconds())

    def starts(self) -> list[datetime]:
        return [self.origin + self.width * i for i in range(self.count)]


def to_utc(value: datetime) -> datetime:
    """An instant in UTC; a time without a zone is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def bucket_floor(when: datetime, kind: BucketKind) -> datetime:
    day = when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if kind == "week" else day


def history_window(
    start: datetime | None, end: datetime | None, kind: BucketKind, now: datetime
) -> Window:
    """The buckets covering ``[start, end]``; by default the last 30 days up to ``now``.

    Raises :class:`WindowError` when ``start`` is after ``end`` or they are more than
    :data:`MAX_SPAN` apart.
    """
    end = to_utc(end) if end is not None else now
    start = to_utc(start) if start is not None else end - DEFAULT_SPAN
    if start > end:
        raise WindowError("from", "'from' is after 'to'")
    if end - start > MAX_SPAN:
        raise WindowError("to", f"the range is longer than {MAX_SPAN.days} days")
    origin = bucket_floor(start, kind)
    width = _WIDTH[kind]
    count = (bucket_floor(end, kind) - origin) // width + 1
    return Window(origin, width, count)
