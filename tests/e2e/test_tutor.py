"""Tutor turns streamed into real rooms, driven by a real OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.fakes.scripted_openai import (
    Drop,
    HttpError,
    Script,
    Stall,
    Text,
    ToolCallStep,
    Usage,
)

ANSWER = (
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen. "
    "What do you think the chlorophyll is for?"
)


def turn_events(conn: Any, turn_id: str) -> list[dict[str, Any]]:
    return [e for e in conn.events if e.get("turn_id") == turn_id and e["type"] != "ask"]


async def ask(conn: Any, text: str) -> dict[str, Any]:
    await conn.send({"type": "ask", "text": text})
    return await conn.until(lambda f: f.get("type") == "ask" and f["text"] == text)


async def terminal(conn: Any, turn_id: str, timeout: float = 15) -> dict[str, Any]:
    return await conn.seen(
        lambda f: f.get("turn_id") == turn_id and f["type"] in ("agent.done", "agent.error"),
        timeout,
    )


async def test_every_member_sees_the_same_streamed_answer(model: Any, tutor_room: Any) -> None:
    model.enqueue(Script.tokens(ANSWER, per_token_delay=0.005))
    room = await tutor_room()
    a, b = room.conns
    goal = await room.kit.http.post(
        "/api/goals",
        json={
            "topic_id": room.session["topic_id"],
            "title": "Explain the light reactions",
            "metric": "questions_asked",
            "target": 5,
        },
        headers=room.people[1].auth,
    )
    assert goal.status_code == 201, goal.text
    asked = await ask(a, "How does photosynthesis work?")
    turn_id = asked["turn_id"]
    done_a = await terminal(a, turn_id)
    done_b = await terminal(b, turn_id)
    assert done_a == done_b
    assert done_a["type"] == "agent.done" and done_a["stopped"] is False
    assert done_a["text"] == ANSWER
    for conn in (a, b):
        events = turn_events(conn, turn_id)
        kinds = [e["type"] for e in events]
        assert kinds[0] == "agent.start" and kinds[-1] == "agent.done"
        assert set(kinds[1:-1]) == {"agent.delta"}
        assert events[0]["in_reply_to"] == asked["seq"]
        assert "".join(e["text"] for e in events if e["type"] == "agent.delta") == ANSWER
        # Coalesced: far fewer frames than the ~40 tokens the model streamed.
        assert len(kinds) - 2 < 20
    assert done_a["usage"]["tokens_out"] > 0 and done_a["usage"]["tokens_in"] > 0
    assert done_a["model"] == "scripted" and done_a["ttft_ms"] is not None
    # The model was asked properly: a system prompt on the topic, the question with its author.
    sent = model.completion_requests()[-1].body
    assert sent["stream"] is True and sent["max_tokens"] == 512
    assert "Photosynthesis" in sent["messages"][0]["content"]
    # The members' goals on the topic are part of what the tutor is told.
    assert "learner1: Explain the light reactions" in sent["messages"][0]["content"]
    assert sent["messages"][-1]["content"] == "learner0: How does photosynthesis work?"
    assert {t["function"]["name"] for t in sent["tools"]} == {
        "search_materials",
        "pose_quiz",
        "record_concept",
    }
    # The finished turn is in the transcript.
    for _ in range(50):
        rows = await room.kit.messages(room.people[1], room.session["id"])
        if any(r["type"] == "agent.done" for r in rows):
            break
        await asyncio.sleep(0.1)
    kinds = [r["type"] for r in rows]
    assert "ask" in kinds and "agent.done" in kinds and "agent.delta" not in kinds


async def test_asks_are_answered_one_at_a_time_in_order(model: Any, tutor_room: Any) -> None:
    model.enqueue(
        Script.tokens("First answer, slowly.", per_token_delay=0.03),
        Script.tokens("Second answer."),
    )
    room = await tutor_room()
    a, b = room.conns
    first = await ask(a, "first?")
    second = await ask(b, "second?")
    assert second["seq"] > first["seq"]
    await terminal(a, second["turn_id"])
    await terminal(a, first["turn_id"])
    spans = {}
    for event in a.events:
        if event.get("type", "").startswith("agent."):
            spans.setdefault(event["turn_id"], []).append(event["seq"])
    one, two = spans[first["turn_id"]], spans[second["turn_id"]]
    assert max(one) < min(two), "the second turn started before the first ended"


async def test_cancel_stops_the_turn(model: Any, tutor_room: Any) -> None:
    model.enqueue(Script.tokens("word " * 200, per_token_delay=0.02))
    room = await tutor_room()
    a, b = room.conns
    asked = await ask(a, "Tell me everything")
    turn_id = asked["turn_id"]
    await b.until(lambda f: f.get("type") == "agent.delta")
    # Only the asker or a host may stop it: b is neither (a is both).
    await b.send({"type": "cancel", "turn_id": turn_id})
    refused = await b.until(lambda f: f.get("type") == "error")
    assert refused["code"] == "not_allowed" and "asker or a host" in refused["message"]
    await a.send({"type": "cancel", "turn_id": turn_id})
    done = await terminal(a, turn_id)
    assert done["type"] == "agent.done" and done["stopped"] is True
    events = turn_events(a, turn_id)
    assert events[-1] is done or events[-1] == done
    deltas = "".join(e["text"] for e in events if e["type"] == "agent.delta")
    assert deltas == done["text"] and len(done["text"]) < len("word " * 200)
    # Nothing of this turn arrives after its terminal event, and the model call was closed.
    await a.send({"type": "ping"})
    await a.until(lambda f: f.get("type") == "pong")
    assert turn_events(a, turn_id)[-1] == done
    for _ in range(50):
        if model.disconnects:
            break
        await asyncio.sleep(0.05)
    assert model.disconnects == 1


@pytest.mark.parametrize(
    ("script", "tries", "code"),
    [
        (Script(HttpError(500)), 2, "unavailable"),
        (Script(HttpError(401)), 1, "auth"),
        (Script(Stall(10)), 2, "timeout"),
        (Script(Text("Half an ans"), Text("wer"), Drop()), 1, "model_error"),
        (Script(Text("Half"), Stall(10)), 1, "timeout"),
    ],
    ids=["http500", "http401", "stall_first", "drop_mid", "stall_mid"],
)
async def test_each_fault_ends_in_exactly_one_terminal_event(
    model: Any, tutor_room: Any, script: Script, tries: int, code: str
) -> None:
    # Faults before the first token are retried once (tutor_max_retries=1), later ones never.
    model.enqueue(*[script] * tries)
    room = await tutor_room(members=1)
    (a,) = room.conns
    asked = await ask(a, "Will this fail?")
    end = await terminal(a, asked["turn_id"])
    assert end["type"] == "agent.error" and end["code"] == code, end
    # The room keeps working, and the next question is answered.
    model.enqueue(Script.tokens("Recovered."))
    again = await ask(a, "And now?")
    done = await terminal(a, again["turn_id"])
    assert done["type"] == "agent.done" and done["text"] == "Recovered."
    ends = [
        e
        for e in a.events
        if e.get("turn_id") == asked["turn_id"] and e["type"] in ("agent.done", "agent.error")
    ]
    assert len(ends) == 1
    assert len(model.completion_requests()) == tries + 1


async def test_rate_limit_from_the_model_is_retried_after_its_retry_after(
    model: Any, tutor_room: Any
) -> None:
    model.enqueue(Script(HttpError(429, retry_after=0.5)), Script.tokens("After the wait."))
    room = await tutor_room(members=1)
    (a,) = room.conns
    asked = await ask(a, "Busy?")
    done = await terminal(a, asked["turn_id"])
    assert done["type"] == "agent.done" and done["text"] == "After the wait."
    first, second = model.completion_requests()[-2:]
    assert second.at - first.at >= 0.45


async def test_quiz_tool_posts_a_quiz_that_members_answer(model: Any, tutor_room: Any) -> None:
    quiz_args = {
        "question": "Which gas do plants release?",
        "choices": ["Nitrogen", "Oxygen", "Helium"],
        "answer_index": 1,
        "concept": "photosynthesis products",
    }
    model.enqueue(
        Script(ToolCallStep("pose_quiz", json.dumps(quiz_args), id="call_1"), Usage()),
        Script.tokens("I posted a quiz: give it a try!"),
    )
    room = await tutor_room()
    a, b = room.conns
    asked = await ask(a, "Quiz me")
    quiz = await b.until(lambda f: f.get("type") == "quiz")
    assert quiz["question"] == quiz_args["question"] and quiz["choices"] == quiz_args["choices"]
    assert "answer_index" not in quiz and quiz["turn_id"] == asked["turn_id"]
    done = await terminal(a, asked["turn_id"])
    assert done["text"] == "I posted a quiz: give it a try!"
    # The model got the tool's result before it answered.
    tool_msgs = [m for m in model.completion_requests()[-1].body["messages"] if m["role"] == "tool"]
    assert tool_msgs and "posted" in tool_msgs[0]["content"]
    await b.send({"type": "answer", "quiz_id": quiz["quiz_id"], "choice": 1})
    result = await a.until(lambda f: f.get("type") == "quiz.result")
    assert result["correct"] is True and result["user"]["id"] == room.people[1].id
    progress = await a.until(lambda f: f.get("type") == "progress")
    assert progress["concept"] == "photosynthesis products" and progress["source"] == "quiz"
    assert 0 < progress["mastery"] <= 1
    await a.send({"type": "answer", "quiz_id": quiz["quiz_id"], "choice": 0})
    wrong = await a.until(lambda f: f.get("type") == "quiz.result")
    assert wrong["correct"] is False and wrong["user"]["id"] == room.people[0].id
    # One answer per learner, and only to real quizzes.
    await b.send({"type": "answer", "quiz_id": quiz["quiz_id"], "choice": 2})
    assert (await b.until(lambda f: f.get("type") == "error"))["code"] == "not_allowed"
    await b.send({"type": "answer", "quiz_id": "q-none", "choice": 0})
    assert (await b.until(lambda f: f.get("type") == "error"))["code"] == "not_found"


async def test_hostile_tool_calls_are_refused_without_breaking_the_turn(
    model: Any, tutor_room: Any
) -> None:
    model.enqueue(
        Script(
            ToolCallStep("pose_quiz", '{"question": "x", "choices": ["a"], "answer_index": 5}'),
            ToolCallStep("delete_everything", "{}"),
            ToolCallStep("record_concept", "not json"),
        ),
        Script.tokens("Fine."),
    )
    room = await tutor_room(members=1)
    (a,) = room.conns
    asked = await ask(a, "hi")
    done = await terminal(a, asked["turn_id"])
    assert done["type"] == "agent.done" and done["text"] == "Fine."
    results = [
        m["content"]
        for m in model.completion_requests()[-1].body["messages"]
        if m["role"] == "tool"
    ]
    assert len(results) == 3 and all(r.startswith("error:") for r in results)
    assert not any(e["type"] in ("quiz", "progress") for e in a.events)


async def test_asking_too_fast_is_rate_limited(model: Any, tutor_room: Any) -> None:
    room = await tutor_room(members=1, tutor_asks_per_minute=1)
    (a,) = room.conns
    for i in range(4):
        await a.send({"type": "ask", "text": f"question {i}"})
    error = await a.until(lambda f: f.get("type") == "error")
    assert error["code"] == "rate_limited"


async def test_a_host_may_stop_anyones_answer(model: Any, tutor_room: Any) -> None:
    model.enqueue(Script.tokens("word " * 200, per_token_delay=0.02))
    room = await tutor_room()
    host, member = room.conns
    asked = await ask(member, "Tell me everything")
    await host.until(lambda f: f.get("type") == "agent.delta")
    await host.send({"type": "cancel", "turn_id": asked["turn_id"]})
    done = await terminal(member, asked["turn_id"])
    assert done["stopped"] is True
    # A turn nobody asked is nothing to stop, for anyone.
    await member.send({"type": "cancel", "turn_id": "t-none"})
    await member.send({"type": "ping"})
    await member.until(lambda f: f.get("type") == "pong")
    assert not [e for e in member.events if e.get("type") == "error"]


async def test_a_turn_whose_prompt_would_pass_the_budget_is_refused_before_the_model(
    model: Any, tutor_room: Any
) -> None:
    # The budget is not spent yet, so the ask is admitted; its prompt alone would pass it.
    room = await tutor_room(members=2, tutor_session_token_budget=1)
    model.enqueue(Script.tokens(ANSWER))
    asked = await ask(room.conns[0], "What is photosynthesis?")

    for conn in room.conns:
        end = await terminal(conn, asked["turn_id"])
        assert end["type"] == "agent.error"
        assert end["code"] == "rate_limited"
        assert "budget" in end["message"]
        assert [e["type"] for e in turn_events(conn, asked["turn_id"])] == ["agent.error"]
    assert model.completion_requests() == []
    assert model.pending == 1
