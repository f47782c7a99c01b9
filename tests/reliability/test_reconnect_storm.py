"""A reconnect storm is a handled case: joins past ``STUDYROOM_WS_JOINS_MAX`` are closed with
1013 and a ``retry_after_ms`` hint, and SDK rooms honour it and come back without losing or
repeating an event.

A server process reaches Redis through a relay the test can stall, so a join can be held in
progress (its admission waits on live state) for as long as the test needs; the members reach
the server through another relay, which the test cuts to drop all their sockets at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

from clients.sdk import Delivery, Room, RoomBusy
from protocol.errors import CloseCode, retry_after_ms
from tests.fakes.tcp_relay import Relay
from tests.support import RoomKit
from tests.support.waiting import eventually


@dataclass
class Member:
    room: Room
    got: list[Delivery] = field(default_factory=list)

    @property
    def seqs(self) -> list[int]:
        return [d.seq for d in self.got if d.seq is not None]

    @property
    def chats(self) -> list[str]:
        return [d.data["text"] for d in self.got if d.type == "chat"]


async def _read(member: Member) -> None:
    async for delivery in member.room:
        member.got.append(delivery)


@pytest.fixture
async def redis_link(services_backend: Any) -> AsyncIterator[Relay]:
    parts = urlsplit(services_backend.redis_url)
    link = Relay((parts.hostname or "127.0.0.1", parts.port or 6379))
    await link.start()
    yield link
    await link.stop()


@pytest.fixture
async def make_front() -> AsyncIterator[Callable[[int], Awaitable[Relay]]]:
    """``make_front(port)``: what members reach a server through (like a load balancer)."""
    relays: list[Relay] = []

    async def start(port: int) -> Relay:
        relay = Relay(("127.0.0.1", port))
        await relay.start()
        relays.append(relay)
        return relay

    yield start
    for relay in relays:
        await relay.stop()


async def _server(services_backend: Any, redis_link: Relay, spawn: Any, **env: str) -> Any:
    parts = urlsplit(services_backend.redis_url)
    url = services_backend.redis_url.replace(f":{parts.port}", f":{redis_link.port}", 1)
    # redis-py 8 reads a socket within 5 s by default, whatever the command timeout says; the
    # URL's own option lifts that, so the test alone decides how long live state hangs.
    url += "?socket_timeout=60"
    # In a thread: the relay lives in this loop, and the server needs it to start.
    return await asyncio.to_thread(
        spawn,
        services_backend.env(
            STUDYROOM_REDIS_URL=url,
            STUDYROOM_REDIS_COMMAND_TIMEOUT_S="60",
            STUDYROOM_REDIS_CONNECT_TIMEOUT_S="60",
            STUDYROOM_RATE_LIMIT_BURST="200",
            **env,
        ),
    )


async def _metric(base_url: str, name: str) -> float:
    async with httpx.AsyncClient(base_url=base_url) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def _close_of(ws: Any) -> tuple[int, str]:
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 20)
    rcvd = ws.protocol.close_rcvd
    assert rcvd is not None
    return rcvd.code, rcvd.reason


async def test_a_join_past_the_bound_gets_a_retry_hint_and_the_room_resumes_after_it(
    services_backend: Any, redis_link: Relay, make_front: Any, spawn: Any, make_kit: Any
) -> None:
    proc = await _server(
        services_backend,
        redis_link,
        spawn,
        STUDYROOM_WS_JOINS_MAX="1",
        STUDYROOM_WS_JOIN_WAIT_S="0",
    )
    front = await make_front(proc.port)
    kit: RoomKit = make_kit(proc.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a = await kit.connect(alice, session)
    # Bob's room goes through the front relay: its connection details name the relay.
    bob_room = make_kit(front.base_url).client(bob).room(session["id"])
    await bob_room.open()
    bob_member = Member(bob_room)
    reading = asyncio.create_task(_read(bob_member))
    try:
        for i in range(3):
            await a.send({"type": "chat", "text": f"before-{i}"})
        await eventually(lambda: _now(bob_member.chats), lambda chats: "before-2" in chats)

        front.cut()  # bob's socket drops; his room keeps trying
        for i in range(3):
            await a.send({"type": "chat", "text": f"while-away-{i}"})
        await a.until(lambda f: f.get("text") == "while-away-2")

        # A join held in progress: its admission waits on live state.
        redis_link.stall()
        holder_token = (await kit.details(alice, session))["participant_token"]
        holder = await kit.raw(kit.url(session["id"], holder_token))
        await eventually(
            lambda: _metric(proc.base_url, "studyroom_ws_joins_in_progress"), lambda n: n == 1
        )

        probe = await kit.raw(kit.url(session["id"], holder_token))
        code, reason = await _close_of(probe)
        assert code == CloseCode.TRY_AGAIN_LATER
        hint = retry_after_ms(code, reason)
        assert hint is not None and hint > 0, reason

        # Bob's room comes back while the slot is taken: refused with the hint, it waits.
        front.restore()
        await eventually(
            lambda: _now(bob_room.last_close),
            lambda last: last is not None and retry_after_ms(*last) is not None,
            timeout=30,
        )
        assert await _metric(proc.base_url, "studyroom_ws_joins_refused_total") >= 2
        # A room that cannot open for a busy server says so (the terminal client tells it).
        with pytest.raises(RoomBusy):
            await make_kit(front.base_url).client(alice).room(session["id"]).open(wait_s=5)
        assert await _metric(proc.base_url, 'studyroom_ws_closed_total{code="1013"}') >= 2

        redis_link.flow()  # the held join finishes and frees the slot
        assert json.loads(await asyncio.wait_for(holder.recv(), 20))["type"] == "welcome"
        await eventually(lambda: _now(bob_member.chats), lambda c: "while-away-2" in c, 30)
        await a.send({"type": "chat", "text": "after"})
        await eventually(lambda: _now(bob_member.chats), lambda c: "after" in c)
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        await bob_room.close()

    assert bob_member.chats == [
        "before-0",
        "before-1",
        "before-2",
        "while-away-0",
        "while-away-1",
        "while-away-2",
        "after",
    ]
    seqs = bob_member.seqs
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "a gap or a repeat"
    assert not any(d.reloaded for d in bob_member.got), "resumed from the live log"
    welcomes = [d for d in bob_member.got if d.type == "welcome"]
    assert len(welcomes) == 2 and welcomes[1].data["resumed"] is True


ROOMS = 24


async def test_every_socket_of_a_process_reconnecting_at_once_comes_back_whole(
    services_backend: Any, redis_link: Relay, make_front: Any, spawn: Any, make_kit: Any
) -> None:
    # Two joins at a time and no waiting: most of the storm is refused at first.
    proc = await _server(
        services_backend,
        redis_link,
        spawn,
        STUDYROOM_WS_JOINS_MAX="2",
        STUDYROOM_WS_JOIN_WAIT_S="0",
    )
    front = await make_front(proc.port)
    kit: RoomKit = make_kit(proc.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a = await kit.connect(alice, session)
    client = make_kit(front.base_url).client(bob)
    members = [Member(client.room(session["id"])) for _ in range(ROOMS)]
    for member in members:
        await member.room.open(wait_s=60)
    readers = [asyncio.create_task(_read(m)) for m in members]
    try:
        await a.send({"type": "chat", "text": "before"})
        for member in members:
            await _until_chat(member, "before")

        front.cut()
        for i in range(5):
            await a.send({"type": "chat", "text": f"while-away-{i}"})
        await a.until(lambda f: f.get("text") == "while-away-4")
        front.restore()  # every room comes back at once, with the same last_seq

        for member in members:
            await _until_chat(member, "while-away-4", 60)
        await a.send({"type": "chat", "text": "after"})
        for member in members:
            await _until_chat(member, "after")
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for member in members:
            await member.room.close()

    expected = ["before", *(f"while-away-{i}" for i in range(5)), "after"]
    for member in members:
        assert member.chats == expected
        seqs = member.seqs
        assert seqs == list(range(seqs[0], seqs[-1] + 1)), "a gap or a repeat"
        assert not any(d.reloaded for d in member.got)
    assert await _metric(proc.base_url, "studyroom_ws_joins_in_progress") == 0


async def _now(value: Any) -> Any:
    return value


async def _until_chat(member: Member, text: str, timeout: float = 30) -> None:
    await eventually(lambda: _now(member.chats), lambda chats: text in chats, timeout)
