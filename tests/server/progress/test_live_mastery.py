"""One mastery model: the live ``progress`` event says what ``/api/progress`` will show.

Learners answer the tutor's quizzes over a real server's room socket, faster than the
transcript is projected; once it is, each concept's mastery is the one the room was told.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.scripted_openai import Script, ScriptedOpenAI, ToolCallStep, Usage
from tests.support import Conn, Person, RoomKit, eventually


def quizzes(*concepts: str) -> tuple[Script, Script]:
    calls = [
        ToolCallStep(
            "pose_quiz",
            json.dumps(
                {
                    "question": f"Question {i}?",
                    "choices": ["Heat", "ATP", "Salt"],
                    "answer_index": 1,
                    "concept": concept,
                }
            ),
            id=f"call_quiz_{i}",
        )
        for i, concept in enumerate(concepts)
    ]
    return Script(*calls, Usage()), Script.tokens("Quizzes for you!")


async def answer_all(room: Conn, quiz_ids: list[str], choices: list[int]) -> list[float]:
    """Answer back to back, without waiting for the projection; the live masteries."""
    told: list[float] = []
    for quiz_id, choice in zip(quiz_ids, choices, strict=True):
        await room.send({"type": "answer", "quiz_id": quiz_id, "choice": choice})
        event = await room.until(lambda f: f.get("type") == "progress" and f["source"] == "quiz")
        told.append(event["mastery"])
    return told


async def projected(study: RoomKit, who: Person, topic: int, reviews: int) -> dict[str, Any]:
    def done(concepts: list[Any]) -> bool:
        return any(c["reviews"] == reviews for c in concepts)

    concepts = await eventually(lambda: study.concepts(who, topic), done)
    (concept,) = [c for c in concepts if c["reviews"] == reviews]
    return dict(concept)


async def test_the_live_mastery_of_each_answer_is_the_projected_one(
    study: RoomKit, model: ScriptedOpenAI
) -> None:
    me = await study.person("agreed")
    topic = await study.topic(me)
    first = await study.session(me, topic=topic)
    model.enqueue(*quizzes("Light reactions", "light  REACTIONS", "Light reactions"))
    room = await study.connect(me, first)
    await room.ask("Quiz me three times")
    posed = [(await room.until(lambda f: f.get("type") == "quiz"))["quiz_id"] for _ in range(3)]

    told = await answer_all(room, posed, [0, 1, 0])  # wrong, right, wrong
    assert told[0] < told[1] and told[2] < told[1]
    light = await projected(study, me, topic, 3)
    assert light["mastery"] == told[-1]

    # Another session on the topic goes on from the projected card.
    second = await study.session(me, topic=topic)
    model.enqueue(*quizzes("Light Reactions"))
    room = await study.connect(me, second)
    await room.ask("One more")
    quiz = await room.until(lambda f: f.get("type") == "quiz")
    (again,) = await answer_all(room, [quiz["quiz_id"]], [1])
    light = await projected(study, me, topic, 4)
    assert light["mastery"] == again
    assert again != told[1], "a fourth review is not a second one"


async def test_each_answer_agrees_as_soon_as_it_is_projected(
    study: RoomKit, model: ScriptedOpenAI
) -> None:
    me = await study.person("stepwise")
    topic = await study.topic(me)
    session = await study.session(me, topic=topic)
    model.enqueue(*quizzes("Calvin cycle", "Calvin cycle"))
    room = await study.connect(me, session)
    await room.ask("Quiz me twice")
    posed = [(await room.until(lambda f: f.get("type") == "quiz"))["quiz_id"] for _ in range(2)]
    for reviews, (quiz_id, choice) in enumerate(zip(posed, [1, 1], strict=True), start=1):
        (told,) = await answer_all(room, [quiz_id], [choice])
        assert (await projected(study, me, topic, reviews))["mastery"] == told


async def test_answers_sent_at_once_from_two_sockets_are_graded_one_after_the_other(
    study: RoomKit, model: ScriptedOpenAI
) -> None:
    me = await study.person("twice")
    topic = await study.topic(me)
    session = await study.session(me, topic=topic)
    model.enqueue(*quizzes("Stomata", "Stomata"))
    room, other = await study.connect(me, session), await study.connect(me, session)
    await room.ask("Two quizzes")
    posed = [(await room.until(lambda f: f.get("type") == "quiz"))["quiz_id"] for _ in range(2)]
    await room.send({"type": "answer", "quiz_id": posed[0], "choice": 1})
    await other.send({"type": "answer", "quiz_id": posed[1], "choice": 0})
    graded: list[dict[str, Any]] = []
    while len(graded) < 4:
        graded.append(await room.until(lambda f: f.get("type") in ("quiz.result", "progress")))
    assert [e["type"] for e in graded] == ["quiz.result", "progress"] * 2
    assert (await projected(study, me, topic, 2))["mastery"] == graded[-1]["mastery"]
