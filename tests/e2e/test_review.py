"""Spaced review in the room: a quiz answered wrong comes back when its concept is due."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.fakes.scripted_openai import Script, ToolCallStep, Usage

QUIZ = {
    "question": "Which gas do plants release?",
    "choices": ["Nitrogen", "Oxygen", "Helium"],
    "answer_index": 1,
    "concept": "photosynthesis products",
}


async def schedule(room: Any, person: Any) -> dict[str, Any]:
    r = await room.kit.http.get(f"/api/sessions/{room.session['id']}/review", headers=person.auth)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def until_due(room: Any, person: Any, due: int) -> dict[str, Any]:
    """The schedule once the projection has caught up with the answers given."""
    for _ in range(100):
        found = await schedule(room, person)
        if found["due"] == due:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"never {due} due: {found}")


async def test_a_wrong_answer_schedules_its_card_and_review_poses_it_again(
    model: Any, tutor_room: Any
) -> None:
    # Review ahead two minutes: FSRS brings a card answered wrong back after one.
    room = await tutor_room(review_ahead_s=120)
    ada, bob = room.conns
    learner = room.people[0]
    assert await schedule(room, learner) == {"due": 0, "next_review_at": None}
    await ada.send({"type": "review"})
    refused = await ada.until(lambda f: f.get("type") == "error")
    assert refused["code"] == "nothing_due"

    model.enqueue(
        Script(ToolCallStep("pose_quiz", json.dumps(QUIZ), id="call_1"), Usage()),
        Script.tokens("Try the quiz."),
    )
    await ada.send({"type": "ask", "text": "Quiz me"})
    quiz = await ada.until(lambda f: f.get("type") == "quiz")
    assert quiz.get("review_of") is None
    await ada.send({"type": "answer", "quiz_id": quiz["quiz_id"], "choice": 0})
    wrong = await ada.until(lambda f: f.get("type") == "quiz.result")
    assert wrong["correct"] is False
    scheduled = await until_due(room, learner, 1)
    assert scheduled["next_review_at"] is None

    # Either member may start the review; it poses the card to the whole room.
    await bob.send({"type": "review"})
    again = await ada.until(lambda f: f.get("type") == "quiz" and f.get("review_of"))
    assert again["review_of"] == quiz["quiz_id"] and again["quiz_id"] != quiz["quiz_id"]
    assert (again["question"], again["choices"]) == (QUIZ["question"], QUIZ["choices"])
    seen_by_bob = await bob.until(lambda f: f.get("type") == "quiz" and f.get("review_of"))
    assert seen_by_bob == again
    await ada.send({"type": "answer", "quiz_id": again["quiz_id"], "choice": 1})
    right = await ada.until(lambda f: f.get("type") == "quiz.result" and f["correct"])
    assert right["quiz_id"] == again["quiz_id"]
    progress = await ada.until(lambda f: f.get("type") == "progress" and f["source"] == "quiz")
    assert progress["concept"] == QUIZ["concept"]

    # Answered right, the card moves further out: nothing is due now, and the page can say when.
    later = await until_due(room, learner, 0)
    assert later["next_review_at"] is not None
    await ada.send({"type": "review"})
    refused = await ada.until(lambda f: f.get("type") == "error" and f is not refused)
    assert refused["code"] == "nothing_due"
    assert len(model.completion_requests()) == 2  # the quiz turn's: a review calls no model


async def test_review_schedule_is_for_members_only(tutor_room: Any) -> None:
    room = await tutor_room(members=1)
    stranger = await room.kit.person("stranger")
    r = await room.kit.http.get(f"/api/sessions/{room.session['id']}/review", headers=stranger.auth)
    assert r.status_code == 403
