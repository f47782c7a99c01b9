"""Room sockets served without our uvicorn adapter go through the ASGI sink, and a client sees
the same room: the same frames in order, the same resume, the same close codes."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable

import pytest
import websockets

from server.runner import start_in_process
from tests.conftest import Backend
from tests.support import RoomKit

# uvicorn's own protocol: no frame sink in the scope, so every frame is a websocket.send.
STOCK_WS = "websockets-sansio"


@pytest.fixture
async def asgi_kit(
    embedded_backend: Backend, make_kit: Callable[[str], RoomKit]
) -> AsyncIterator[RoomKit]:
    settings = embedded_backend.settings(
        max_frame_bytes=4096, rate_limit_per_s=100_000, rate_limit_burst=100_000
    )
    port, stop = await start_in_process(settings, ws=STOCK_WS)
    try:
        yield make_kit(f"http://127.0.0.1:{port}")
    finally:
        await stop()


async def closed_counts(kit: RoomKit) -> dict[str, str]:
    metrics = (await kit.http.get("/metrics")).text
    return dict(re.findall(r'studyroom_ws_closed_total\{code="(\d+)"\} (\S+)', metrics))


async def test_members_see_one_ordered_stream_and_resume_it(asgi_kit: RoomKit) -> None:
    kit = asgi_kit
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a, b = await kit.connect(alice, session), await kit.connect(bob, session)

    for n in range(5):
        await a.send({"type": "chat", "text": f"m{n}"})
    await b.until(lambda f: f.get("text") == "m4")
    await b.ws.close()
    await a.send({"type": "chat", "text": "while bob was away"})
    await a.until(lambda f: f.get("text") == "while bob was away")

    again = await kit.connect(bob, session, last_seq=b.last_seq, epoch=b.welcome["epoch"])
    got = await again.until(lambda f: f.get("text") == "while bob was away")

    assert again.welcome["resumed"] is True
    seqs = [e["seq"] for e in b.events + again.events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert got["seq"] == a.last_seq
    await a.send({"type": "ping"})
    assert (await a.until(lambda f: f.get("type") == "pong")) == {"type": "pong"}


async def test_an_oversized_frame_closes_with_1009_never_as_a_server_fault(
    asgi_kit: RoomKit,
) -> None:
    kit = asgi_kit
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    busy = await kit.connect(bob, session)

    async def chatter() -> None:
        sent = 0
        while True:
            await busy.send({"type": "chat", "text": f"line {sent}"})
            sent += 1
            await asyncio.sleep(0)

    async def read_all() -> None:
        async for _ in busy.ws:
            pass

    tasks = [asyncio.create_task(chatter()), asyncio.create_task(read_all())]
    try:
        for _ in range(10):
            conn = await kit.connect(alice, session)
            await conn.until(lambda f: f.get("type") == "chat")
            await conn.send("x" * 5000)
            assert await conn.closed_with() == 1009
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await asyncio.gather(*tasks)
    closed = await closed_counts(kit)
    assert float(closed.get("1011", 0)) == 0, closed


async def test_an_ended_session_closes_its_sockets_with_4410(asgi_kit: RoomKit) -> None:
    kit = asgi_kit
    alice = await kit.person("alice")
    session = await kit.session(alice)
    conn = await kit.connect(alice, session)

    ended = await kit.http.post(f"/api/sessions/{session['id']}/end", headers=alice.auth)
    assert ended.status_code < 300, ended.text

    await conn.until(lambda f: f.get("type") == "session.ended")
    assert await conn.closed_with() == 4410
