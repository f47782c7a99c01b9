"""What the tutor puts in each model request: the matching passages first, and never more than
the model's window holds, however long the room's messages are (scripted OpenAI server)."""

from __future__ import annotations

from typing import Any

from server.tutor.budget import CUT_MARK, PER_MESSAGE, estimate_tokens
from server.tutor.prompt import PASSAGES_HEADING
from tests.fakes.scripted_openai import Script, Text

NOTES = """# Cell biology

## Mitochondria

Mitochondria are the powerhouse of the cell: cellular respiration there produces ATP.

## Ribosomes

Ribosomes read messenger RNA and assemble proteins.
"""


async def _done(conn: Any, text: str) -> dict[str, Any]:
    await conn.send({"type": "ask", "text": text})
    asked = await conn.until(lambda f: f.get("type") == "ask" and f["text"] == text)
    ended: dict[str, Any] = await conn.until(
        lambda f: (
            f.get("turn_id") == asked["turn_id"] and f["type"] in ("agent.done", "agent.error")
        ),
        20,
    )
    return ended


def _request_tokens(body: dict[str, Any]) -> int:
    return sum(estimate_tokens(m.get("content") or "") + PER_MESSAGE for m in body["messages"])


async def test_the_matching_passage_is_in_the_request_with_the_tools_offered(
    model: Any, tutor_room: Any
) -> None:
    room = await tutor_room(members=1)
    (ada,) = room.people
    uploaded = await room.kit.http.post(
        f"/api/topics/{room.session['topic_id']}/materials",
        files={"file": ("cells.md", NOTES.encode(), "text/markdown")},
        headers=ada.auth,
    )
    assert uploaded.status_code == 201, uploaded.text
    # A model that never calls search_materials still answers from the group's materials.
    model.enqueue(Script.tokens("In the mitochondria."))
    done = await _done(room.conns[0], "Where is ATP produced?")
    assert done["type"] == "agent.done"
    body = model.completion_requests()[-1].body
    assert {t["function"]["name"] for t in body["tools"]} >= {"search_materials"}
    grounding = [m for m in body["messages"] if m["content"].startswith(PASSAGES_HEADING)]
    assert len(grounding) == 1 and grounding[0]["role"] == "user"
    assert "cellular respiration there produces ATP" in grounding[0]["content"]
    # It comes right before the question, which stays last.
    assert body["messages"][-2] == grounding[0]
    assert body["messages"][-1]["content"] == "learner0: Where is ATP produced?"
    assert done["citations"], "the passages given are the turn's sources"
    assert {c["filename"] for c in done["citations"]} == {"cells.md"}
    assert {c["material_id"] for c in done["citations"]} == {uploaded.json()["id"]}


async def test_a_room_of_long_messages_still_gets_answers_within_a_small_window(
    model: Any, tutor_room: Any
) -> None:
    window = 2048
    room = await tutor_room(tutor_context_tokens=window, tutor_max_tokens=256)
    ada, bob = room.conns
    for i, conn in enumerate((ada, bob, ada)):
        text = f"note {i}: " + "long message " * 300  # about 4,000 characters, the limit
        await conn.send({"type": "chat", "text": text})
        await bob.until(lambda f, t=text: f.get("type") == "chat" and f["text"] == t)
    for n in range(3):
        model.enqueue(Script.tokens(f"Answer {n}."))
        question = f"Question {n}: what did we say?"
        done = await _done(ada, question)
        assert done["type"] == "agent.done", done
        assert done["text"] == f"Answer {n}."
        body = model.completion_requests()[-1].body
        # Counted as the server counts for a model without a tokenizer: all of it fits.
        assert _request_tokens(body) + body["max_tokens"] <= window
        assert body["messages"][-1]["content"] == f"learner0: {question}"
        # The long messages were shortened rather than the turn refused.
        assert any(CUT_MARK in (m.get("content") or "") for m in body["messages"])


async def test_an_answer_cut_by_the_token_limit_says_so(model: Any, tutor_room: Any) -> None:
    room = await tutor_room(members=1, tutor_max_tokens=16)
    cut = Script.tokens("Photosynthesis happens in the chloroplasts, where light")
    model.enqueue(Script(*cut.steps, finish_reason="length"), Script.tokens("Yes."))
    done = await _done(room.conns[0], "Where does photosynthesis happen?")
    assert done["type"] == "agent.done" and done["truncated"] is True
    assert model.completion_requests()[-1].body["max_tokens"] == 16
    again = await _done(room.conns[0], "Is that all?")
    assert again["truncated"] is False


async def test_no_speaker_label_or_passage_marker_reaches_the_room(
    model: Any, tutor_room: Any
) -> None:
    room = await tutor_room()
    ada, bob = room.conns
    answer = [
        "learner0",
        ": As your ",
        '<passage material="1" chu',
        'nk="2">',
        "notes say, cells divide.</pass",
        "age>",
    ]
    model.enqueue(Script(*(Text(piece) for piece in answer)))
    done = await _done(ada, "How do cells grow?")
    assert done["text"] == "As your notes say, cells divide."
    await bob.seen(lambda f: f.get("turn_id") == done["turn_id"] and f["type"] == "agent.done")
    deltas = [
        e["text"]
        for e in bob.events
        if e.get("turn_id") == done["turn_id"] and e["type"] == "agent.delta"
    ]
    assert "".join(deltas) == done["text"]
    assert not any("passage" in d or d.startswith("learner0") for d in deltas)
    # The model is told to stop where it would start writing a learner's next message.
    assert "\nlearner0:" in model.completion_requests()[-1].body["stop"]
