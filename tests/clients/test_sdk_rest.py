"""The SDK's REST helpers against a real server: topics, sessions, uploads, goals, reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clients.sdk import ApiError, StudyroomClient
from protocol.events import ChatEvent, PresenceEvent
from tests.clients.test_sdk import room_events, signed_up

NOTES = """# Graphs

A graph is a set of vertices joined by edges.

## Trees

A tree is a connected graph without cycles; it has exactly n - 1 edges.
"""


@pytest.fixture
async def ada(server: Any, unique: Callable[[str], str]) -> AsyncIterator[StudyroomClient]:
    client = await signed_up(server.base_url, unique, "ada")
    yield client
    await client.aclose()


async def test_sessions_current_topic_change_and_end(ada: StudyroomClient) -> None:
    assert await ada.current_session() is None
    graphs = await ada.create_topic("Graphs", "vertices and edges")
    trees = await ada.create_topic("Trees")
    assert (await ada.topic(graphs.id)).description == "vertices and edges"
    assert {t.id for t in await ada.topics()} == {graphs.id, trees.id}
    session = await ada.create_session(graphs.id, title="Evening")
    current = await ada.current_session()
    assert current is not None and current.id == session.id
    moved = await ada.change_topic(session.id, trees.id)
    assert moved.topic_id == trees.id
    assert (await ada.session(session.id)).model_extra is not None
    ended = await ada.end_session(session.id)
    assert ended.status == "ended"
    assert await ada.current_session() is None


async def test_upload_streams_with_progress_and_is_searchable(
    ada: StudyroomClient, tmp_path: Path
) -> None:
    topic = await ada.create_topic("Graphs")
    notes = tmp_path / "graph notes.md"
    # Several chunks of the streamed body, so progress is reported more than once.
    notes.write_text(NOTES + "\n".join(f"Filler line {i} about paths." for i in range(8000)))
    seen: list[tuple[int, int]] = []
    material = await ada.upload(topic.id, notes, on_progress=lambda s, t: seen.append((s, t)))
    assert material.filename == "graph notes.md"
    assert material.size_bytes == notes.stat().st_size
    assert material.content_type == "text/markdown"
    total = seen[-1][1]
    assert len(seen) > 3 and seen[-1][0] == total > material.size_bytes
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)

    again = await ada.upload(topic.id, notes)
    assert again.id == material.id  # the same bytes are stored once per topic
    assert [m.id for m in await ada.materials(topic.id)] == [material.id]
    assert (await ada.material(material.id)).sha256 == material.sha256
    # Ranking weighs words across every topic of the database, so only membership is checked.
    hits = await ada.search(topic.id, "connected graph without cycles")
    assert any("without cycles" in hit.text for hit in hits)
    assert {hit.material_id for hit in hits} == {material.id}
    await ada.delete_material(material.id)
    assert await ada.materials(topic.id) == []


async def test_upload_errors_are_typed(ada: StudyroomClient, tmp_path: Path) -> None:
    topic = await ada.create_topic("Binary")
    blob = tmp_path / "image.png"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(ApiError) as refused:
        await ada.upload(topic.id, blob)
    assert refused.value.status == 415
    with pytest.raises(FileNotFoundError):
        await ada.upload(topic.id, tmp_path / "missing.md")


async def test_goals_progress_report_and_history(ada: StudyroomClient) -> None:
    topic = await ada.create_topic("Graphs")
    due = date.today() + timedelta(days=7)
    goal = await ada.create_goal(topic.id, "Ask more", "questions_asked", 4, due_date=due)
    assert (goal.metric, goal.target, goal.due_date, goal.progress) == (
        "questions_asked",
        4,
        due,
        0,
    )
    renamed = await ada.update_goal(goal.id, title="Ask even more", target=8)
    assert (renamed.title, renamed.target) == ("Ask even more", 8)
    assert [g.id for g in await ada.goals(topic.id)] == [goal.id]
    with pytest.raises(ApiError) as invalid:
        await ada.create_goal(topic.id, "Nothing", "questions_asked", -1)
    assert invalid.value.status == 422

    session = await ada.create_session(topic.id)
    async with ada.room(session.id) as room:
        await room.chat("hello")
        await room_events(room, lambda d: d.type == "chat")
    for _ in range(100):  # the transcript is written behind the room
        report = await ada.report(session.id)
        if report.messages == 1:
            break
        await asyncio.sleep(0.05)
    assert (report.messages, report.questions, report.participants) == (1, 0, 1)
    assert await ada.progress(topic.id) == []
    history = await ada.history(date.today() - timedelta(days=2), bucket="day")
    assert history and all(row.quiz_answers == 0 for row in history)
    await ada.delete_goal(goal.id)
    assert await ada.goals() == []


async def test_deliveries_carry_typed_events(ada: StudyroomClient) -> None:
    topic = await ada.create_topic("Graphs")
    session = await ada.create_session(topic.id)
    async with ada.room(session.id) as room:
        await room.chat("typed", client_msg_id="c1")
        got = await room_events(room, lambda d: d.type == "chat")
    welcome, *events = got
    assert welcome.event is None  # ephemeral frames have no room event
    kinds = [type(d.event) for d in events]
    assert kinds == [PresenceEvent, ChatEvent]
    chat = events[-1].event
    assert isinstance(chat, ChatEvent) and (chat.text, chat.client_msg_id) == ("typed", "c1")


async def test_login_me_and_token_expiry(ada: StudyroomClient) -> None:
    me = await ada.me()
    assert me.display_name == "ada"
    assert ada.token_expires_at is not None and ada.token_expires_at > datetime.now(UTC)


async def test_transcript_pages_below_the_limit_asked_for(
    make_server: Any, unique: Callable[[str], str]
) -> None:
    server = await make_server(page_max=3, rate_limit_burst=100)
    client = await signed_up(server.base_url, unique, "ada")
    session = await client.create_session((await client.create_topic("Paging")).id)
    async with client.room(session.id) as room:
        for i in range(10):
            await room.chat(f"m{i}")
        await room_events(room, lambda d: d.data.get("text") == "m9")
    for _ in range(100):  # the transcript is written behind the room
        rows = await client.messages(session.id)
        if sum(r["type"] == "chat" for r in rows) == 10:
            break
        await asyncio.sleep(0.05)
    assert [r["text"] for r in rows if r["type"] == "chat"] == [f"m{i}" for i in range(10)]
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    await client.aclose()


async def test_iteration_ends_when_the_room_is_closed(ada: StudyroomClient) -> None:
    session = await ada.create_session((await ada.create_topic("Closing")).id)
    room = ada.room(session.id)
    await room.open()
    got = []

    async def read() -> None:
        async for delivery in room:
            got.append(delivery)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.2)
    await room.close()
    await asyncio.wait_for(reader, 5)
    assert got and got[0].type == "welcome"
