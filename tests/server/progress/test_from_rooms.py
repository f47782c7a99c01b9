"""Goal progress and concept progress computed from what really happened in rooms.

Members talk to a real server over its room socket; the tutor is a scripted model that poses
quizzes and records concepts with its real tools. What the tests read back over REST comes
from the persisted transcript.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.scripted_openai import Script, ScriptedOpenAI, ToolCallStep, Usage
from tests.support import Person, RoomKit, eventually


async def persisted(study: RoomKit, who: Person, session: dict[str, Any], event: Any) -> None:
    """Wait until the transcript holds an event matching ``event``."""
    await eventually(
        lambda: study.messages(who, session["id"]), lambda rows: any(event(row) for row in rows)
    )


async def test_questions_count_the_callers_asks_on_the_topic_since_the_goal(study: RoomKit) -> None:
    me, peer = await study.person("asker"), await study.person("peer")
    topic = await study.topic(me)
    elsewhere = await study.topic(me, "Genetics")
    session = await study.session(me, peer, topic=topic)
    room, peer_room = await study.connect(me, session), await study.connect(peer, session)
    await room.ask("Asked before the goal?")
    goal = await study.goal(me, topic, "questions_asked", 4)
    other_topic_goal = await study.goal(me, elsewhere, "questions_asked", 1)
    await room.ask("What is chlorophyll?")
    await room.ask("Why are leaves green?")
    peer_ask = await peer_room.ask("And roots?")
    await persisted(study, me, session, lambda e: e["seq"] == peer_ask["seq"])
    counted = await eventually(lambda: study.read_goal(me, goal["id"]), lambda g: g["value"] == 2)
    assert counted["progress"] == 0.5
    assert (await study.read_goal(me, other_topic_goal["id"]))["progress"] == 0
    # The peer's own goal on the topic counts the peer's ask alone.
    peer_goal = await study.goal(peer, topic, "questions_asked", 1)
    assert peer_goal["progress"] == 0, "counted from the goal's creation on"


async def test_a_goal_since_an_earlier_moment_counts_what_came_before_it(
    study: RoomKit,
) -> None:
    me = await study.person("asker")
    session = await study.session(me)
    room = await study.connect(me, session)
    started = datetime.now(UTC)
    await room.ask("First?")
    last = await room.ask("Second?")
    await persisted(study, me, session, lambda e: e["seq"] == last["seq"])
    fresh = await study.goal(me, session["topic_id"], "questions_asked", 5)
    assert fresh["value"] == 0 and fresh["since"] == fresh["created_at"]
    made = await study.http.post(
        "/api/goals",
        json={
            "topic_id": session["topic_id"],
            "title": "Five this session",
            "metric": "questions_asked",
            "target": 5,
            "since": started.isoformat(),
        },
        headers=me.auth,
    )
    assert made.status_code == 201, made.text
    assert made.json()["value"] == 2 and made.json()["progress"] == 0.4
    # Moving the fresh goal's start back makes it count the same two.
    moved = await study.http.patch(
        f"/api/goals/{fresh['id']}", json={"since": started.isoformat()}, headers=me.auth
    )
    assert moved.status_code == 200 and moved.json()["value"] == 2
    # A start ahead of now would count nothing yet: refused.
    ahead = await study.http.patch(
        f"/api/goals/{fresh['id']}", json={"since": "2999-01-01T00:00:00Z"}, headers=me.auth
    )
    assert ahead.status_code == 422
    assert (await study.read_goal(me, fresh["id"]))["value"] == 2


async def test_study_minutes_count_time_present_in_the_room(study: RoomKit) -> None:
    me = await study.person()
    topic = await study.topic(me)
    session = await study.session(me, topic=topic)
    goal = await study.goal(me, topic, "study_minutes", 1)
    entered = asyncio.get_running_loop().time()
    room = await study.connect(me, session)
    await persisted(study, me, session, lambda e: e["type"] == "presence")
    # Present now: the open stretch counts up to now, so it grows.
    first = await eventually(lambda: study.read_goal(me, goal["id"]), lambda g: g["value"] > 0)
    await asyncio.sleep(0.5)
    second = await study.read_goal(me, goal["id"])
    assert second["value"] > first["value"] and second["progress"] == second["value"]
    await room.ws.close()
    left = asyncio.get_running_loop().time()
    await persisted(study, me, session, lambda e: e["type"] == "presence" and e["event"] == "leave")
    # Gone: the stretch is closed and stops growing.
    closed = await study.read_goal(me, goal["id"])
    await asyncio.sleep(0.3)
    assert (await study.read_goal(me, goal["id"]))["value"] == closed["value"]
    assert 0.5 / 60 <= closed["value"] <= (left - entered + 0.5) / 60


QUIZ_CONCEPTS = ("Light reactions", "  light   REACTIONS ", "light reactions")
ANSWERS = (0, 1, 0)  # choice 1 is right: wrong, right, wrong


def quiz_turn() -> tuple[Script, Script]:
    calls = [
        ToolCallStep(
            "pose_quiz",
            json.dumps(
                {
                    "question": f"Light question {i}?",
                    "choices": ["Heat", "ATP", "Salt"],
                    "answer_index": 1,
                    "concept": concept,
                }
            ),
            id=f"call_quiz_{i}",
        )
        for i, concept in enumerate(QUIZ_CONCEPTS)
    ]
    record = ToolCallStep(
        "record_concept", json.dumps({"concept": "Calvin cycle", "mastery": 0.9}), id="call_rec"
    )
    return Script(*calls, record, Usage()), Script.tokens("Three quizzes for you!")


async def test_quiz_answers_move_concepts_and_goals(study: RoomKit, model: ScriptedOpenAI) -> None:
    me, peer = await study.person("quizzed"), await study.person("onlooker")
    topic = await study.topic(me)
    session = await study.session(me, peer, topic=topic)
    accuracy = await study.goal(me, topic, "quiz_accuracy", 0.5)
    mastered = await study.goal(me, topic, "concepts_mastered", 2)
    model.enqueue(*quiz_turn())
    room = await study.connect(me, session)
    await study.connect(peer, session)
    await room.ask("Quiz me on the light reactions")
    quizzes = [await room.until(lambda f: f.get("type") == "quiz") for _ in QUIZ_CONCEPTS]

    masteries: list[float] = []
    for reviews, (quiz, choice) in enumerate(zip(quizzes, ANSWERS, strict=True), start=1):
        await room.send({"type": "answer", "quiz_id": quiz["quiz_id"], "choice": choice})
        result = await room.until(lambda f: f.get("type") == "quiz.result")
        assert result["correct"] is (choice == 1)

        def reviewed(concepts: list[Any], n: int = reviews) -> bool:
            return any(c["reviews"] == n for c in concepts)

        concepts = await eventually(lambda: study.concepts(me, topic), reviewed)
        (light,) = [c for c in concepts if c["reviews"] == reviews]
        masteries.append(light["mastery"])
    # Wrong, then right, then wrong again.
    assert masteries[0] < masteries[1] and masteries[2] < masteries[1]

    concepts = await study.concepts(me, topic)
    by_name = {c["concept"]: c for c in concepts}
    # One concept, however it was written; shown as first written.
    assert set(by_name) == {"Light reactions", "Calvin cycle"}
    light = by_name["Light reactions"]
    assert light["reviews"] == 3 and 0 < light["mastery"] < 1
    assert datetime.fromisoformat(light["next_review_at"]) > datetime.now(UTC)
    calvin = by_name["Calvin cycle"]
    assert calvin == {
        "concept": "Calvin cycle",
        "mastery": 0.9,
        "reviews": 0,
        "next_review_at": None,
        "topic_id": topic,
    }
    assert [c["concept"] for c in await study.concepts(me)] == ["Calvin cycle", "Light reactions"]
    assert await study.concepts(peer) == []

    scored = await study.read_goal(me, accuracy["id"])
    assert scored["value"] == pytest.approx(1 / 3, abs=1e-3)
    assert scored["progress"] == pytest.approx(2 / 3, abs=1e-3)
    # Only the Calvin cycle is at 0.8 or more.
    assert (await study.read_goal(me, mastered["id"]))["value"] == 1
    assert (await study.read_goal(me, mastered["id"]))["progress"] == 0.5
