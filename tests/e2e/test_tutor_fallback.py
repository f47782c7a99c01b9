"""A provider that fails before or during an answer: the bundled model finishes the turn.

The provider is a scripted OpenAI-compatible server; the fallback is the real bundled model.
"""

from __future__ import annotations

from typing import Any

from server.tutor.local_provider import BUNDLED_FILE
from tests.fakes.scripted_openai import Drop, HttpError, Script, Stall, Text

LOCAL = BUNDLED_FILE.removesuffix(".gguf")


async def _turn(conn: Any, text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    await conn.send({"type": "ask", "text": text})
    asked = await conn.until(lambda f: f.get("type") == "ask" and f["text"] == text)
    end: dict[str, Any] = await conn.until(
        lambda f: (
            f.get("turn_id") == asked["turn_id"] and f["type"] in ("agent.done", "agent.error")
        ),
        60,
    )
    events = [e for e in conn.events if e.get("turn_id") == asked["turn_id"] and e is not asked]
    return end, events


def _check_one_turn(end: dict[str, Any], events: list[dict[str, Any]]) -> None:
    kinds = [e["type"] for e in events if e["type"] != "ask"]
    assert kinds[0] == "agent.start" and kinds[-1] == "agent.done"
    assert [k for k in kinds if k in ("agent.done", "agent.error")] == ["agent.done"]
    deltas = "".join(e["text"] for e in events if e["type"] == "agent.delta")
    assert deltas == end["text"]


async def test_a_stream_that_dies_part_way_is_finished_by_the_bundled_model(
    model: Any, tutor_room: Any
) -> None:
    room = await tutor_room(members=2, tutor_fallback="local", tutor_max_tokens=24)
    ada, bob = room.conns
    model.enqueue(Script(Text("Photosynthesis happens in "), Text("the chloroplasts"), Drop()))
    end, events = await _turn(ada, "Where does photosynthesis happen?")
    _check_one_turn(end, events)
    assert end["text"].startswith("Photosynthesis happens in the chloroplasts")
    assert len(end["text"]) > len("Photosynthesis happens in the chloroplasts")
    assert end["models"] == ["scripted", LOCAL] and end["model"] == LOCAL
    (fell_back,) = [e for e in events if e["type"] == "agent.fallback"]
    assert fell_back["from"] == "scripted" and fell_back["to"] == LOCAL
    assert fell_back["reason"] == "model_error"
    # The fallback comes after what the first model said and before what the second one says.
    order = [e["type"] for e in events]
    first_delta_after = order.index("agent.fallback") + 1
    assert "agent.delta" in order[:first_delta_after]
    assert "agent.delta" in order[first_delta_after:]
    # Everyone in the room saw the same turn.
    seen = await bob.seen(
        lambda f: f.get("turn_id") == end["turn_id"] and f["type"] == "agent.done"
    )
    assert seen == end
    # The next ask goes to the provider again.
    model.enqueue(Script.tokens("You are welcome."))
    again, _ = await _turn(ada, "Thanks!")
    assert again["models"] == ["scripted"] and again["text"] == "You are welcome."


async def test_a_provider_that_is_down_or_stalls_falls_back_before_any_text(
    model: Any, tutor_room: Any
) -> None:
    room = await tutor_room(
        members=1, tutor_fallback="local", tutor_max_tokens=16, tutor_first_token_timeout_s=0.5
    )
    (ada,) = room.conns
    # tutor_max_retries is 1: two failures of each kind exhaust the provider's own retries.
    model.enqueue(Script(HttpError(503)), Script(HttpError(503)))
    end, events = await _turn(ada, "Name a planet.")
    _check_one_turn(end, events)
    assert end["models"] == ["scripted", LOCAL] and end["text"].strip()
    assert [e["reason"] for e in events if e["type"] == "agent.fallback"] == ["unavailable"]
    model.enqueue(Script(Stall(5)), Script(Stall(5)))
    end, events = await _turn(ada, "Name another planet.")
    _check_one_turn(end, events)
    assert [e["reason"] for e in events if e["type"] == "agent.fallback"] == ["timeout"]


async def test_without_a_fallback_the_failure_ends_the_turn(model: Any, tutor_room: Any) -> None:
    room = await tutor_room(members=1, tutor_fallback="none")
    model.enqueue(Script(Text("Half an"), Drop()))
    end, events = await _turn(room.conns[0], "Explain.")
    assert end["type"] == "agent.error"
    assert not [e for e in events if e["type"] == "agent.fallback"]
