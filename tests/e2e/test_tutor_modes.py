"""A session's teaching mode: how the tutor is told to teach, or that there is no tutor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from server.db.models import StudySession
from tests.fakes.scripted_openai import Script


async def set_mode(backend: Any, session_id: int, mode: str) -> None:
    """What a host's setting does, written where the tutor reads it."""
    engine = create_async_engine(backend.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(StudySession).where(StudySession.id == session_id).values(tutor_mode=mode)
            )
    finally:
        await engine.dispose()


async def answered(conn: Any, text: str) -> dict[str, Any]:
    await conn.send({"type": "ask", "text": text})
    asked = await conn.until(lambda f: f.get("type") == "ask" and f["text"] == text)
    done: dict[str, Any] = await conn.until(
        lambda f: f.get("turn_id") == asked["turn_id"] and f["type"] == "agent.done", 20
    )
    return done


async def test_the_mode_chooses_how_the_tutor_is_told_to_teach(
    model: Any, tutor_room: Any, backend: Any
) -> None:
    room = await tutor_room(members=1)
    (ada,) = room.conns
    model.enqueue(Script.tokens("What do you already know?"), Script.tokens("It is 4."))
    await answered(ada, "What is 2+2?")
    socratic = model.completion_requests()[-1].body["messages"][0]["content"]
    assert "Socratic" in socratic and "Explain directly" not in socratic
    await set_mode(backend, room.session["id"], "explain")
    await answered(ada, "What is 2+2, really?")
    explain = model.completion_requests()[-1].body["messages"][0]["content"]
    assert "Explain directly" in explain and "Socratic" not in explain


async def test_with_the_tutor_off_asks_are_refused_and_nothing_is_queued(
    model: Any, tutor_room: Any, backend: Any
) -> None:
    room = await tutor_room(members=2)
    ada, bob = room.conns
    await set_mode(backend, room.session["id"], "off")
    await ada.send({"type": "ask", "text": "Anyone there?", "client_msg_id": "c-1"})
    refused = await ada.until(lambda f: f.get("type") == "error")
    assert refused["code"] == "not_allowed" and "switched off" in refused["message"]
    # A chat still goes through; the refused ask never became a room event.
    await ada.send({"type": "chat", "text": "then we study alone"})
    await bob.until(lambda f: f.get("type") == "chat")
    assert not [e for e in bob.events if e.get("type") == "ask"]
    assert model.completion_requests() == []
    # Switched back on, the tutor answers again.
    await set_mode(backend, room.session["id"], "socratic")
    model.enqueue(Script.tokens("Here I am."))
    done = await answered(ada, "Anyone there now?")
    assert done["text"] == "Here I am."


async def test_a_host_switches_the_tutor_off_over_rest_and_the_room_hears_of_it(
    model: Any, tutor_room: Any
) -> None:
    room = await tutor_room(members=2)
    host, member = room.people
    ada, bob = room.conns
    path = f"/api/sessions/{room.session['id']}"
    refused = await room.kit.http.patch(path, json={"tutor_mode": "off"}, headers=member.auth)
    assert refused.status_code == 403
    r = await room.kit.http.patch(path, json={"tutor_mode": "off"}, headers=host.auth)
    assert r.status_code == 200, r.text
    for conn in (ada, bob):
        updated = await conn.until(lambda f: f.get("type") == "session.updated")
        assert updated["session"]["tutor_mode"] == "off"
    await bob.send({"type": "ask", "text": "Still there?"})
    error = await bob.until(lambda f: f.get("type") == "error")
    assert error["code"] == "not_allowed"
    assert model.completion_requests() == []
