"""The buckets of a history window, as plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from server.reports.window import MAX_SPAN, WindowError, bucket_floor, history_window

NOW = datetime(2024, 3, 6, 15, 30, tzinfo=UTC)  # a Wednesday


def test_default_is_thirty_days_of_whole_days_up_to_now() -> None:
    window = history_window(None, None, "day", NOW)
    assert window.origin == datetime(2024, 2, 5, tzinfo=UTC)
    assert window.count == 31
    assert window.end == datetime(2024, 3, 7, tzinfo=UTC)


def test_weeks_start_on_monday_in_utc() -> None:
    assert bucket_floor(NOW, "week") == datetime(2024, 3, 4, tzinfo=UTC)
    sunday_night = datetime(2024, 3, 10, 23, 59, tzinfo=UTC)
    assert bucket_floor(sunday_night, "week") == datetime(2024, 3, 4, tzinfo=UTC)
    # Monday 01:00 in UTC+2 is still Sunday in UTC.
    monday_east = datetime(2024, 3, 11, 1, tzinfo=timezone(timedelta(hours=2)))
    assert bucket_floor(monday_east, "week") == datetime(2024, 3, 4, tzinfo=UTC)


def test_naive_times_are_utc_and_a_point_is_one_bucket() -> None:
    window = history_window(datetime(2024, 1, 1, 12), datetime(2024, 1, 1, 12), "day", NOW)
    assert (window.origin, window.count) == (datetime(2024, 1, 1, tzinfo=UTC), 1)
    assert window.starts() == [datetime(2024, 1, 1, tzinfo=UTC)]


def test_longest_range_is_accepted_and_longer_refused() -> None:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    assert history_window(start, start + MAX_SPAN, "day", NOW).count == 367
    assert history_window(start, start + MAX_SPAN, "week", NOW).count == 54
    with pytest.raises(WindowError) as refused:
        history_window(start, start + MAX_SPAN + timedelta(seconds=1), "day", NOW)
    assert refused.value.field == "to"
    with pytest.raises(WindowError) as reversed_range:
        history_window(NOW, NOW - timedelta(seconds=1), "day", NOW)
    assert reversed_range.value.field == "from"
