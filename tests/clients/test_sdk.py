"""The Python SDK against a real server: rooms that reconnect without losing or repeating."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from clients.sdk import ApiError, Delivery, Room, RoomClosed, StudyroomClient


async def signed_up(base_url: str, unique: Callable[[str], str], name: str) -> StudyroomClient:
    client = StudyroomClient(base_url)
    username = unique(name)
    await client.register(username, "correct horse battery", display_name=name)
    await client.login(username, "correct horse battery")
    return client


async def room_events(
    room: Room, until: Callable[[Delivery], bool], timeout: float = 10
) -> list[Delivery]:
    got: list[Delivery] = []

    async def collect() -> None:
        async for delivery in room:
            got.append(delivery)
            if until(delivery):
                return

    await asyncio.wait_for(collect(), timeout)
    return got


@pytest.fixture
async def pair(server: Any, unique: Callable[[str], str]) -> Any:
    ada = await signed_up(server.base_url, unique, "ada")
    bob = await signed_up(server.base_url, unique, "bob")
    topic = await ada.create_topic("Graph theory")
    session = await ada.create_session(topic.id)
    await bob.join(session.join_code)
    yield ada, bob, session
    await ada.aclose()
    await bob.aclose()


async def test_rest_errors_are_typed(server: Any) -> None:
    async with StudyroomClient(server.base_url) as client:
        with pytest.raises(ApiError) as refused:
            await client.login("nobody", "wrong password")
        assert refused.value.status == 401
        with pytest.raises(ApiError) as unauthorized:
            await client.topics()
        assert unauthorized.value.status == 401


async def test_two_clients_see_one_gap_free_stream(pair: Any) -> None:
    ada, bob, session = pair
    async with ada.room(session.id) as a, bob.room(session.id) as b:
        await a.chat("hello", client_msg_id="m1")
        await b.chat("hi ada")
        seen_a = await room_events(a, lambda d: d.data.get("text") == "hi ada")
        seen_b = await room_events(b, lambda d: d.data.get("text") == "hi ada")
    chats = [d.data["text"] for d in seen_a if d.type == "chat"]
    assert chats == ["hello", "hi ada"]
    assert [d.data for d in seen_a if d.type == "chat"] == [
        d.data for d in seen_b if d.type == "chat"
    ]
    seqs = [d.seq for d in seen_a if d.seq is not None]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_a_dropped_connection_resumes_without_loss_or_repeats(pair: Any) -> None:
    ada, bob, session = pair
    async with ada.room(session.id) as a, bob.room(session.id) as b:
        await a.chat("one")
        await room_events(b, lambda d: d.data.get("text") == "one")
        # Bob's network goes away; Ada keeps talking.
        assert b._ws is not None
        b._ws.transport.abort()
        for word in ("two", "three", "four"):
            await a.chat(word)
        got = await room_events(b, lambda d: d.data.get("text") == "four")
        assert b.reconnects >= 1
        assert b.welcome is not None and b.welcome["resumed"] is True
    chats = [d.data["text"] for d in got if d.type == "chat"]
    assert chats == ["two", "three", "four"]
    seqs = [d.seq for d in got if d.seq is not None]
    assert seqs == sorted(set(seqs)) and seqs == list(range(seqs[0], seqs[-1] + 1))


async def test_too_old_to_resume_reloads_the_transcript(
    make_server: Any, unique: Callable[[str], str]
) -> None:
    server = await make_server(room_log_retention=10, rate_limit_burst=100)
    ada = await signed_up(server.base_url, unique, "ada")
    topic = await ada.create_topic("Sets")
    session = await ada.create_session(topic.id)
    async with ada.room(session.id) as a:
        for i in range(20):
            await a.chat(f"m{i}")
        await room_events(a, lambda d: d.data.get("text") == "m19")
        epoch = a.epoch
    for _ in range(100):  # the transcript is written behind the room
        if len([m for m in await ada.messages(session.id) if m["type"] == "chat"]) == 20:
            break
        await asyncio.sleep(0.05)
    late = Room(ada, session.id, last_seq=1, epoch=epoch)
    async with late:
        got = await room_events(late, lambda d: d.type == "welcome")
    assert late.welcome is not None and late.welcome["resumed"] is False
    reloaded = [d.data["text"] for d in got if d.reloaded and d.type == "chat"]
    assert reloaded == [f"m{i}" for i in range(20)]
    await ada.aclose()


async def test_an_ended_session_closes_the_room_for_good(pair: Any) -> None:
    ada, bob, session = pair
    async with bob.room(session.id) as b:
        await ada._call("POST", f"/api/sessions/{session.id}/end")
        with pytest.raises(RoomClosed) as closed:
            await room_events(b, lambda d: False)
    assert closed.value.code == 4410
