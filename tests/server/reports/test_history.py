"""GET /api/metrics/history over real HTTP, on history with known instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.server.reports.conftest import Frames as F

if TYPE_CHECKING:
    from tests.server.api.conftest import Account, Api
    from tests.server.reports.conftest import Seeder

WEEK = ("2024-03-04", "2024-03-10")  # Monday to Sunday


def t(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, second, tzinfo=UTC)


async def _history(api: Api, who: Account, **params: str) -> list[dict[str, Any]]:
    r = await api.client.get("/api/metrics/history", params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    series: list[dict[str, Any]] = r.json()
    return series


def bucket(
    start: str,
    minutes: float = 0.0,
    questions: int = 0,
    answers: int = 0,
    accuracy: float | None = None,
    tokens: int = 0,
) -> dict[str, Any]:
    return {
        "bucket_start": start,
        "study_minutes": minutes,
        "questions": questions,
        "quiz_answers": answers,
        "quiz_accuracy": accuracy,
        "tokens": tokens,
    }


async def _studied_week(api: Api, seeder: Seeder) -> tuple[Account, Account]:
    """Uma's week of 2024-03-04, with Vic in the same rooms doing other things."""
    uma, vic = await api.signup("uma"), await api.signup("vic")
    topic = await api.topic(uma)
    first = (await api.session(uma, topic["id"]))["id"]
    second_session = await api.session(uma, topic["id"])
    await api.join(vic, second_session["join_code"])
    second = second_session["id"]
    # The first session ends while Uma is still in it; the second is still active.
    await seeder.times(first, created_at=t(4, 23), ended_at=t(7, 9, 40))
    await seeder.times(second, created_at=t(3, 22))
    await seeder.events(
        second,
        # Starts before the window: only the 10 minutes after midnight count.
        F.join(uma, t(3, 23)),
        F.ask(uma, t(3, 23, 30), "before"),
        F.done("before", t(3, 23, 31), 500, 500, 100),
        F.leave(uma, t(4, 0, 10)),
    )
    await seeder.events(
        first,
        # 30 minutes on the 4th and 45 on the 5th.
        F.join(uma, t(4, 23, 30)),
        F.leave(uma, t(5, 0, 45)),
        F.ask(uma, t(5, 12), "a1"),
        F.done("a1", t(5, 12, 0, 5), 100, 50, 700),
        F.quiz("q1", t(5, 12, 5)),
        F.result(uma, "q1", True, t(5, 12, 10)),
        F.result(vic, "q1", True, t(5, 12, 10)),
        F.quiz("q2", t(5, 12, 11)),
        F.result(uma, "q2", False, t(5, 12, 11)),
    )
    await seeder.events(
        second,
        # Exactly at midnight: the 6th, not the 5th.
        F.ask(uma, t(6), "a2"),
        F.join(uma, t(6, 10)),
        F.join(vic, t(6, 10, 5)),
        F.ask(vic, t(6, 10, 6), "v1"),
        F.done("v1", t(6, 10, 7), 999, 999, 100),
        F.leave(uma, t(6, 10, 20)),
        F.ask(uma, t(8, 8), "a3"),
        F.error("a3", t(8, 8, 1)),
        F.result(uma, "q9", True, t(8, 8, 30)),
        # Asked on the 9th, answered on the 10th: counted with the question.
        F.ask(uma, t(9, 23, 59, 59), "a4"),
        F.done("a4", t(10, 0, 0, 3), 10, 20, 900),
        # The first instant after the window.
        F.ask(uma, t(11), "after"),
    )
    # Back in the first session with no departure: the stay ends with the session.
    await seeder.events(first, F.join(uma, t(7, 9)))
    return uma, vic


async def test_daily_series_is_dense_and_exact(api: Api, seeder: Seeder) -> None:
    uma, _ = await _studied_week(api, seeder)
    series = await _history(api, uma, **{"from": WEEK[0], "to": WEEK[1]})
    assert series == [
        bucket("2024-03-04T00:00:00Z", minutes=40.0),
        bucket("2024-03-05T00:00:00Z", 45.0, questions=1, answers=2, accuracy=0.5, tokens=150),
        bucket("2024-03-06T00:00:00Z", 20.0, questions=1),
        bucket("2024-03-07T00:00:00Z", 40.0),
        bucket("2024-03-08T00:00:00Z", questions=1, answers=1, accuracy=1.0),
        bucket("2024-03-09T00:00:00Z", questions=1, tokens=30),
        bucket("2024-03-10T00:00:00Z"),
    ]


async def test_weekly_series_starts_on_monday(api: Api, seeder: Seeder) -> None:
    uma, vic = await _studied_week(api, seeder)
    # From a Wednesday afternoon (in UTC+2) to the next Tuesday: two Monday weeks.
    series = await _history(
        api, uma, **{"from": "2024-03-06T15:00:00+02:00", "to": "2024-03-12", "bucket": "week"}
    )
    assert series == [
        bucket("2024-03-04T00:00:00Z", 145.0, questions=4, answers=3, accuracy=2 / 3, tokens=180),
        bucket("2024-03-11T00:00:00Z", questions=1),
    ]
    # Vic's own series: his answer, his question, his minutes (the 6th, 10:05 until now).
    vic_week = await _history(api, vic, **{"from": WEEK[0], "to": WEEK[1], "bucket": "week"})
    assert len(vic_week) == 1
    assert vic_week[0]["questions"] == 1 and vic_week[0]["tokens"] == 1998
    assert vic_week[0]["quiz_answers"] == 1 and vic_week[0]["quiz_accuracy"] == 1.0
    # Never left an active session: from 10:05 on the 6th to the end of the week.
    assert vic_week[0]["study_minutes"] == (t(11) - t(6, 10, 5)).total_seconds() / 60


async def test_default_window_is_the_last_30_days(api: Api, seeder: Seeder) -> None:
    ann = await api.signup("ann")
    session = await api.session(ann, (await api.topic(ann))["id"])
    now = datetime.now(UTC)
    await seeder.events(session["id"], F.join(ann, now - timedelta(minutes=10)))
    series = await _history(api, ann)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [datetime.fromisoformat(b["bucket_start"]) for b in series]
    assert len(series) == 31
    assert starts == [today - timedelta(days=30 - i) for i in range(31)]
    # The open stay counts until now (it may straddle midnight).
    assert 9.9 <= sum(b["study_minutes"] for b in series[-2:]) <= 11
    assert all(b == bucket(b["bucket_start"]) for b in series[:-2])


async def test_a_user_without_history_gets_zeros(api: Api) -> None:
    ann = await api.signup("ann")
    series = await _history(api, ann, **{"from": "2020-02-27T23:00:00", "to": "2020-03-01"})
    assert series == [
        bucket("2020-02-27T00:00:00Z"),
        bucket("2020-02-28T00:00:00Z"),
        bucket("2020-02-29T00:00:00Z"),
        bucket("2020-03-01T00:00:00Z"),
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"bucket": "month"},
        {"from": "yesterday"},
        {"from": "1700000000"},
        {"to": "2024-02-30"},
        {"from": "2024-03-10", "to": "2024-03-09"},
        {"from": "2023-01-01", "to": "2024-01-03"},
        {"from": "1969-12-31"},
        {"to": "9999-06-01"},
    ],
)
async def test_bad_parameters_are_refused(api: Api, params: dict[str, str]) -> None:
    ann = await api.signup("ann")
    r = await api.client.get("/api/metrics/history", params=params, headers=ann.headers)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail[0]["loc"][0] == "query"


async def test_history_needs_a_token(api: Api) -> None:
    r = await api.client.get("/api/metrics/history")
    assert r.status_code == 401
