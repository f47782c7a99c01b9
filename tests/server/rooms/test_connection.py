"""One member's room socket, over raw sockets to a real in-process server on both engines: the
greeting comes first and meets the live stream without a gap or a repeat, ``session.ended`` is
the last frame before 4410, ephemeral answers keep their place among room events, and a
flooding client is told about it once a second instead of once a frame.

Behaviours already covered end to end (tests/e2e/test_rooms.py) are not repeated here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
import websockets

from tests.support import Conn, RoomKit
from tests.support.conn import Frame

# Enough tokens that only the tests about the rate limit ever meet it.
UNLIMITED = {"rate_limit_per_s": 10_000, "rate_limit_burst": 10_000}


async def frames_until_closed(conn: Conn, timeout: float = 10.0) -> list[Frame]:
    """Every frame the server sends from now until it closes the socket, in arrival order."""
    received: list[Frame] = []
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            received.append(await conn.recv(timeout))
    return received


def close_code(conn: Conn) -> int | None:
    rcvd = conn.ws.protocol.close_rcvd
    return rcvd.code if rcvd is not None else None


async def keep_talking(conn: Conn, tag: str, stop: asyncio.Event, *, ping: bool = False) -> int:
    """Chat (and ping) until ``stop`` or until the server closes the socket; how many chats."""
    sent = 0
    with contextlib.suppress(websockets.ConnectionClosed):
        while not stop.is_set():
            await conn.send({"type": "chat", "text": f"{tag}-{sent}"})
            sent += 1
            if ping:
                await conn.send({"type": "ping"})
            await asyncio.sleep(0.002)
    return sent


async def test_the_greeting_meets_the_live_stream_without_a_gap_or_a_repeat(
    make_server: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    server = await make_server(**UNLIMITED)
    kit = make_kit(server.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a = await kit.connect(alice, session)
    stop = asyncio.Event()
    talking = asyncio.create_task(keep_talking(a, "m", stop))
    await a.until(lambda f: f.get("text") == "m-5")

    # Bob (re)connects while alice talks: fresh, and resuming from a little way back, so the
    # replay read and the live stream overlap.
    joined: list[tuple[int, Conn]] = []
    for round_ in range(6):
        if round_ % 2 == 0:
            conn = await kit.connect(bob, session)
            joined.append((conn.welcome["seq"], conn))
        else:
            resume_from = max(1, joined[-1][1].welcome["seq"] - 10)
            conn = await kit.connect(bob, session, last_seq=resume_from)
            assert conn.welcome["resumed"] is True
            joined.append((resume_from, conn))
    stop.set()
    await talking
    await a.send({"type": "chat", "text": "last"})

    await a.until(lambda f: f.get("text") == "last")
    truth = {event["seq"]: event for event in a.events}
    for after, conn in joined:
        await conn.until(lambda f: f.get("text") == "last")
        seqs = [event["seq"] for event in conn.events]
        # After the welcome: the replay (up to the welcome's head), then live, all contiguous.
        assert seqs == list(range(after + 1, seqs[-1] + 1)), (after, seqs)
        assert conn.events[-1]["seq"] == a.events[-1]["seq"]
        if after < conn.welcome["seq"]:
            assert conn.events[0]["seq"] <= conn.welcome["seq"] < seqs[-1], "no replay seam"
        for event in conn.events:
            if event["seq"] in truth:
                assert event == truth[event["seq"]]


async def test_session_ended_is_the_last_frame_before_the_4410_close(
    make_server: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    server = await make_server(**UNLIMITED)
    kit = make_kit(server.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a = await kit.connect(alice, session)
    b = await kit.connect(bob, session)
    # Both keep chatting and pinging while the session ends under them.
    stop = asyncio.Event()
    talkers = [
        asyncio.create_task(keep_talking(conn, tag, stop, ping=True))
        for conn, tag in ((a, "a"), (b, "b"))
    ]
    await b.until(lambda f: f.get("text") == "a-5")
    await a.until(lambda f: f.get("text") == "b-5")

    ended = await kit.http.post(f"/api/sessions/{session['id']}/end", headers=alice.auth)
    assert ended.status_code == 200, ended.text

    for conn in (a, b):
        tail = await frames_until_closed(conn)
        assert tail, "the socket closed without sending session.ended"
        assert tail[-1]["type"] == "session.ended"
        assert [f for f in tail if f["type"] == "session.ended"] == [tail[-1]]
        assert close_code(conn) == 4410
    stop.set()
    await asyncio.gather(*talkers)


async def test_pongs_keep_their_place_among_room_events(
    backend: Any, make_server: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    server = await make_server(**UNLIMITED)
    kit = make_kit(server.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a = await kit.connect(alice, session)
    b = await kit.connect(bob, session)
    await a.until(lambda f: f.get("type") == "presence" and f["user"]["id"] == bob.id)
    for i in range(20):
        await a.send({"type": "chat", "text": f"c-{i}"})
        await a.send({"type": "ping"})

    order: list[str] = []
    while order.count("pong") < 20 or "c-19" not in order:
        frame = await a.recv()
        order.append(frame["text"] if frame["type"] == "chat" else frame["type"])
    # One pong per ping; the room's events around them are all there, once, in order.
    assert [f for f in order if f != "pong"] == [f"c-{i}" for i in range(20)]
    seqs = [event["seq"] for event in a.events]
    assert seqs == list(range(seqs[0], seqs[-1] + 1))
    await b.until(lambda f: f.get("text") == "c-19")
    assert not b.others, "pongs go to the member that pinged, nobody else"
    if backend.name == "embedded":
        # One process, so fan-out is immediate: each chat is queued before the next ping is
        # read, and its pong follows it. Through Redis pub/sub the pong may overtake it.
        assert order == [x for i in range(20) for x in (f"c-{i}", "pong")]


async def prometheus_value(kit: RoomKit, sample: str) -> float:
    text = (await kit.http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


async def flood(conn: Conn, frame: Frame | str | bytes, seconds: float) -> tuple[int, float]:
    """Send ``frame`` about every 5 ms for ``seconds``; how many were sent, and when it began."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    sent = 0
    while loop.time() - began < seconds:
        if isinstance(frame, bytes):
            await conn.ws.send(frame)
        else:
            await conn.send(frame)
        sent += 1
        await asyncio.sleep(0.005)
    return sent, began


async def after_the_refill(conn: Conn, seconds: float) -> None:
    """Wait for the bucket to hold a token again, then see the server has read everything."""
    await asyncio.sleep(seconds)
    await conn.send({"type": "ping"})
    await conn.until(lambda f: f.get("type") == "pong")


async def test_a_flood_gets_one_rate_limited_error_a_second_not_one_a_frame(
    make_server: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    server = await make_server(rate_limit_per_s=1, rate_limit_burst=2)
    kit = make_kit(server.base_url)
    alice = await kit.person("alice")
    session = await kit.session(alice)
    a = await kit.connect(alice, session)

    sent, began = await flood(a, {"type": "chat", "text": "spam"}, seconds=2.5)
    await after_the_refill(a, 1.5)
    elapsed = asyncio.get_running_loop().time() - began

    errors = [f for f in a.others if f.get("type") == "error"]
    assert {e["code"] for e in errors} == {"rate_limited"}
    # At most one a second of the flood, and more than one: the client is told again.
    assert 2 <= len(errors) <= int(elapsed) + 1
    accepted = sum(e["type"] == "chat" for e in a.events)
    assert sent > 5 * len(errors) and accepted < sent
    # Every refused frame is counted, though few were answered.
    refused = await prometheus_value(kit, 'studyroom_frame_errors_total{code="rate_limited"}')
    assert refused == sent - accepted


async def test_a_binary_frame_is_refused_in_its_place_and_the_socket_goes_on(
    backend: Any, make_server: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    server = await make_server(**UNLIMITED)
    kit = make_kit(server.base_url)
    alice = await kit.person("alice")
    session = await kit.session(alice)
    a = await kit.connect(alice, session)

    await a.send({"type": "chat", "text": "one"})
    await a.ws.send(b"\x00\x01binary")
    await a.send({"type": "chat", "text": "two"})

    order = []
    while "two" not in order:
        frame = await a.recv()
        if frame["type"] in ("chat", "error"):
            order.append(frame.get("text") or frame["code"])
    assert [x for x in order if x != "invalid_frame"] == ["one", "two"]
    assert order.count("invalid_frame") == 1
    assert close_code(a) is None
    if backend.name == "embedded":
        # Fan-out in one process is immediate, so the error lands between the two chats; through
        # Redis pub/sub it may overtake the first (as a pong may, above).
        assert order == ["one", "invalid_frame", "two"]


async def test_a_flood_of_binary_frames_is_rate_limited_like_any_other(
    make_server: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    server = await make_server(rate_limit_per_s=1, rate_limit_burst=2)
    kit = make_kit(server.base_url)
    alice = await kit.person("alice")
    session = await kit.session(alice)
    a = await kit.connect(alice, session)

    sent, began = await flood(a, b"\x00\x01binary", seconds=1.5)
    await after_the_refill(a, 1.5)
    elapsed = asyncio.get_running_loop().time() - began

    errors = [f for f in a.others if f.get("type") == "error"]
    # The burst is answered frame by frame; beyond it, one error a second, as for text frames.
    assert len(errors) <= 2 + int(elapsed) + 1, (sent, [e["code"] for e in errors][:10])
    assert "rate_limited" in {e["code"] for e in errors}


@pytest.mark.parametrize("bad", ["{not json", '{"type":"dance"}'])
async def test_a_flood_of_bad_text_frames_is_rate_limited(
    bad: str, make_server: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    server = await make_server(rate_limit_per_s=1, rate_limit_burst=2)
    kit = make_kit(server.base_url)
    alice = await kit.person("alice")
    session = await kit.session(alice)
    a = await kit.connect(alice, session)

    sent, began = await flood(a, bad, seconds=1.5)
    await after_the_refill(a, 1.5)
    elapsed = asyncio.get_running_loop().time() - began

    errors = [f for f in a.others if f.get("type") == "error"]
    assert len(errors) <= 2 + int(elapsed) + 1
    assert "rate_limited" in {e["code"] for e in errors}
    assert sent > 3 * len(errors)
