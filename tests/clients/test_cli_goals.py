"""``studyroom goals`` says what a goal counts: only what was done after it was set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from clients.cli.goals import goal_status, short_day
from clients.sdk.models import Goal
from tests.clients.cli_support import Cli, sdk_user

TODAY = date(2025, 12, 10)


def goal(metric: str, target: float, value: float, **extra: Any) -> Goal:
    return Goal.model_validate(
        {
            "id": 1,
            "topic_id": 2,
            "title": "g",
            "metric": metric,
            "target": target,
            "progress": min(1.0, value / target),
            "value": value,
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        (
            goal("questions_asked", 5, 2, since="2025-12-03T12:00:00+00:00"),
            "2 of 5 questions asked since 3 Dec",
        ),
        (
            goal("study_minutes", 90, 12.5, since="2024-11-30T12:00:00+00:00"),
            "12.5 of 90 minutes of study since 30 Nov 2024",
        ),
        (
            goal("quiz_accuracy", 0.8, 0.5, since="2025-12-03T12:00:00+00:00"),
            "50% quiz accuracy since 3 Dec (goal 80%)",
        ),
        # A server from before `since`: no date, the same numbers.
        (goal("concepts_mastered", 4, 1), "1 of 4 concepts mastered"),
    ],
)
def test_a_goal_says_what_it_counts_and_since_when(shown: Goal, expected: str) -> None:
    assert goal_status(shown, TODAY) == expected


def test_short_day() -> None:
    assert short_day(date(2025, 1, 3), TODAY) == "3 Jan"
    assert short_day(date(2026, 1, 3), TODAY) == "3 Jan 2026"


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_goals_listing_counts_since_the_goal_was_set(
    server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    name = unique("ada")
    cli = Cli(tmp_path / "config.json")
    async with sdk_user(server.base_url, name) as sdk:
        topic = await sdk.create_topic("Graphs")
        created = await sdk.create_goal(topic.id, "Ask five", "questions_asked", 5)
    await cli.login(server.base_url, name)
    listed = await cli.ok("goals")
    assert created.since is not None
    assert "0 of 5 questions asked since " in listed.out
    assert "a goal counts only what you do after it was set" in listed.out

    # Counting from the start of a day takes in what was done earlier that day.
    today = date.today()
    made = await cli.ok(
        "goals", "create", "--topic", str(topic.id), "--metric", "study_minutes",
        "--target", "30", "--since", today.isoformat(), "--json",
    )  # fmt: skip
    since = Goal.model_validate_json(made.out).since
    assert since is not None
    assert since.astimezone().date() == today and since.astimezone().time() == time(0)

    tomorrow = (today + timedelta(days=1)).isoformat()
    refused = await cli.run(
        "goals", "create", "--topic", str(topic.id), "--metric", "study_minutes",
        "--target", "30", "--since", tomorrow,
    )  # fmt: skip
    assert refused.code != 0 and "cannot count from the future" in refused.err
