"""Live rooms over real sockets on a real server, on both engines."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jwt
import pytest
import websockets
from websockets.exceptions import InvalidStatus


async def chat_burst(conn: Any, count: int, tag: str) -> None:
    for i in range(count):
        await conn.send({"type": "chat", "text": f"{tag}-{i}", "client_msg_id": f"{tag}{i}"})


async def test_three_members_see_one_gap_free_order(kit: Any) -> None:
    alice, bob, carol = [await kit.person(n) for n in ("alice", "bob", "carol")]
    session = await kit.session(alice, bob, carol)
    conns = [await kit.connect(p, session) for p in (alice, bob, carol)]
    # All three talk at once; each message is one room event.
    await asyncio.gather(*(chat_burst(c, 15, tag) for c, tag in zip(conns, "abc", strict=True)))
    head_needed = conns[0].welcome["seq"]  # events after alice's welcome
    for conn in conns:
        for tag in "abc":
            await conn.seen(lambda f, t=tag: f.get("text") == f"{t}-14")
    last = max(c.last_seq for c in conns)
    for conn in conns:
        await conn.until_seq(last)
    tails = []
    for conn in conns:
        seqs = [e["seq"] for e in conn.events]
        assert seqs == list(range(seqs[0], seqs[-1] + 1)), "gap or reorder"
        tails.append(
            [
                (e["seq"], e["type"], e.get("text"))
                for e in conn.events
                if e["seq"] > head_needed + 2
            ]
        )
    assert tails[0] == tails[1] == tails[2]
    chats = [e for e in conns[0].events if e["type"] == "chat"]
    assert len(chats) == 45
    # Each sender's messages keep the order it sent them in.
    for tag in "abc":
        mine = [e["text"] for e in chats if e["text"].startswith(tag)]
        assert mine == [f"{tag}-{i}" for i in range(15)]
    assert {e["user"]["id"] for e in chats} == {alice.id, bob.id, carol.id}


async def test_welcome_describes_room(kit: Any) -> None:
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a = await kit.connect(alice, session)
    assert a.welcome["session_id"] == session["id"]
    assert a.welcome["user"] == {"id": alice.id, "name": "alice"}
    assert a.welcome["resumed"] is False
    assert a.welcome["topic"]["title"] == "Photosynthesis"
    assert {"id": alice.id, "name": "alice"} in a.welcome["members"]
    b = await kit.connect(bob, session)
    assert [m["id"] for m in b.welcome["members"]] == sorted([alice.id, bob.id])
    joined = await a.until(lambda f: f.get("type") == "presence" and f["user"]["id"] == bob.id)
    assert joined["event"] == "join"
    await b.ws.close()
    left = await a.until(lambda f: f.get("type") == "presence" and f["user"]["id"] == bob.id)
    assert left["event"] == "leave"


async def test_reconnect_with_last_seq_gets_exactly_what_was_missed(kit: Any) -> None:
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a = await kit.connect(alice, session)
    b = await kit.connect(bob, session)
    await chat_burst(a, 5, "before")
    await b.until(lambda f: f.get("text") == "before-4")
    seen = b.last_seq
    await b.ws.close()
    await chat_burst(a, 7, "missed")
    await a.until(lambda f: f.get("text") == "missed-6")
    b2 = await kit.connect(bob, session, last_seq=seen)
    assert b2.welcome["resumed"] is True
    await chat_burst(a, 2, "after")
    await b2.until(lambda f: f.get("text") == "after-1")
    seqs = [e["seq"] for e in b2.events]
    assert seqs == list(range(seen + 1, seqs[-1] + 1)), "resume must be gap- and duplicate-free"
    texts = [e.get("text") for e in b2.events if e["type"] == "chat"]
    assert texts == [f"missed-{i}" for i in range(7)] + ["after-0", "after-1"]
    # What bob got on resume is byte-for-byte what alice saw live.
    alice_view = {e["seq"]: e for e in a.events}
    for event in b2.events:
        if event["seq"] in alice_view:
            assert alice_view[event["seq"]] == event


async def test_resume_older_than_retention_is_refused(make_server: Any, make_kit: Any) -> None:
    server = await make_server(room_log_retention=10, rate_limit_burst=100)
    kit = make_kit(server.base_url)
    alice = await kit.person("alice")
    session = await kit.session(alice)
    a = await kit.connect(alice, session)
    await chat_burst(a, 25, "m")
    await a.until(lambda f: f.get("text") == "m-24")
    stale = await kit.connect(alice, session, last_seq=1)
    assert stale.welcome["resumed"] is False
    assert stale.welcome["seq"] >= 26
    # Nothing is replayed: the next event is live.
    await a.send({"type": "chat", "text": "live"})
    first = await stale.until(lambda f: "seq" in f)
    assert first["text"] == "live"
    # A number from the future (an older epoch) is not a continuation either.
    future = await kit.connect(alice, session, last_seq=10_000)
    assert future.welcome["resumed"] is False
    wrong_epoch = await kit.connect(alice, session, last_seq=a.last_seq, epoch="nope")
    assert wrong_epoch.welcome["resumed"] is False
    right_epoch = await kit.connect(alice, session, last_seq=a.last_seq, epoch=a.welcome["epoch"])
    assert right_epoch.welcome["resumed"] is True


async def test_bad_frames_get_errors_and_the_socket_stays_usable(kit: Any) -> None:
    alice = await kit.person("alice")
    session = await kit.session(alice)
    a = await kit.connect(alice, session)
    cases = [
        ("{not json", "invalid_frame"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "chat"}), "invalid_frame"),
        (json.dumps({"type": "chat", "text": "x" * 5000}), "invalid_frame"),
        (json.dumps([1, 2]), "invalid_frame"),
    ]
    for raw, code in cases:
        await a.send(raw)
        error = await a.until(lambda f: f.get("type") == "error")
        assert error["code"] == code and "seq" not in error
    await a.ws.send(b"\x00\x01binary")
    error = await a.until(lambda f: f.get("type") == "error")
    assert error["code"] == "invalid_frame"
    await a.send({"type": "ping"})
    assert (await a.until(lambda f: f.get("type") == "pong")) == {"type": "pong"}
    await a.send({"type": "chat", "text": "still here", "client_msg_id": "k1"})
    chat = await a.until(lambda f: f.get("type") == "chat")
    assert chat["text"] == "still here" and chat["client_msg_id"] == "k1"


async def test_oversized_frame_closes_with_1009(make_server: Any, make_kit: Any) -> None:
    server = await make_server(max_frame_bytes=4096)
    kit = make_kit(server.base_url)
    alice = await kit.person("alice")
    session = await kit.session(alice)
    a = await kit.connect(alice, session)
    await a.send({"type": "chat", "text": "y" * 8000})
    assert await a.closed_with() == 1009


async def test_flood_is_rate_limited(make_server: Any, make_kit: Any) -> None:
    server = await make_server(rate_limit_per_s=1, rate_limit_burst=5)
    kit = make_kit(server.base_url)
    alice = await kit.person("alice")
    session = await kit.session(alice)
    a = await kit.connect(alice, session)
    for i in range(30):
        await a.send({"type": "chat", "text": f"spam {i}"})
    error = await a.until(lambda f: f.get("type") == "error")
    assert error["code"] == "rate_limited"
    # The burst went through; the flood did not: beyond the burst, only what the bucket
    # refilled while the test ran (1 a second) can have been accepted.
    await a.seen(lambda f: f.get("text") == "spam 4")
    texts = [e["text"] for e in a.events if e["type"] == "chat"]
    assert texts[:5] == [f"spam {i}" for i in range(5)]
    assert len(texts) < 10


async def test_typing_reaches_others_without_seq(kit: Any) -> None:
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a = await kit.connect(alice, session)
    b = await kit.connect(bob, session)
    await a.send({"type": "typing"})
    typing = await b.until(lambda f: f.get("type") == "typing")
    assert typing == {"type": "typing", "user": {"id": alice.id, "name": "alice"}}
    await a.send({"type": "ping"})
    await a.until(lambda f: f.get("type") == "pong")
    assert not any(f.get("type") == "typing" for f in a.others)


@pytest.mark.parametrize(
    "case",
    [
        "none",
        "garbage",
        "expired",
        "alg_none",
        "no_exp",
        "wrong_key",
        "access_token",
        "foreign_session",
    ],
)
async def test_bad_tokens_get_no_room_data(kit: Any, server: Any, case: str) -> None:
    alice, mallory = await kit.person("alice"), await kit.person("mallory")
    session = await kit.session(alice)
    await kit.connect(alice, session)
    other = await kit.session(mallory)
    good = (await kit.details(mallory, other))["participant_token"]
    claims = jwt.decode(good, options={"verify_signature": False})
    key = server.settings.secret_key
    token = {
        "none": "",
        "garbage": "abc.def.ghi",
        "expired": jwt.encode({**claims, "exp": 1, "sid": session["id"]}, key, "HS256"),
        "alg_none": jwt.encode({**claims, "sid": session["id"]}, None, "none"),
        "no_exp": jwt.encode(
            {k: v for k, v in claims.items() if k != "exp"} | {"sid": session["id"]}, key, "HS256"
        ),
        "wrong_key": jwt.encode({**claims, "sid": session["id"]}, "x" * 40, "HS256"),
        "access_token": mallory.token,
        "foreign_session": good,
    }[case]
    url = f"{kit.ws_base}/ws/sessions/{session['id']}" + (f"?token={token}" if token else "")
    try:
        ws = await kit.raw(url)
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return
    frames = []
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            frames.append(await asyncio.wait_for(ws.recv(), 5))
    assert frames == []
    assert ws.protocol.close_rcvd is not None
    assert ws.protocol.close_rcvd.code == (4403 if case == "foreign_session" else 4401)


async def test_foreign_origin_is_refused(kit: Any) -> None:
    alice = await kit.person("alice")
    session = await kit.session(alice)
    token = (await kit.details(alice, session))["participant_token"]
    with pytest.raises(InvalidStatus) as refused:
        await kit.raw(kit.url(session["id"], token), origin="https://evil.example")
    assert refused.value.response.status_code == 403
    same = await kit.raw(kit.url(session["id"], token), origin=kit.base_url)
    assert json.loads(await same.recv())["type"] == "welcome"


async def test_bad_last_seq_is_a_policy_violation(kit: Any) -> None:
    alice = await kit.person("alice")
    session = await kit.session(alice)
    token = (await kit.details(alice, session))["participant_token"]
    ws = await kit.raw(kit.url(session["id"], token, last_seq="-3"))
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1008


async def test_topic_change_and_end_reach_the_room(kit: Any) -> None:
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    b = await kit.connect(bob, session)
    spare_token = (await kit.details(bob, session))["participant_token"]
    topic = await kit.http.post("/api/topics", json={"title": "Cells"}, headers=alice.auth)
    switched = await kit.http.put(
        f"/api/sessions/{session['id']}/topic",
        json={"topic_id": topic.json()["id"]},
        headers=alice.auth,
    )
    assert switched.status_code == 200, switched.text
    changed = await b.until(lambda f: f.get("type") == "topic.changed")
    assert changed["topic"]["title"] == "Cells"
    ended = await kit.http.post(f"/api/sessions/{session['id']}/end", headers=alice.auth)
    assert ended.status_code == 200
    await b.until(lambda f: f.get("type") == "session.ended")
    assert await b.closed_with() == 4410
    # An ended session admits nobody, even with a token issued before it ended.
    late = await kit.raw(kit.url(session["id"], spare_token))
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(late.recv(), 5)
    assert late.protocol.close_rcvd is not None and late.protocol.close_rcvd.code == 4410


async def test_slow_reader_is_closed_with_4008_and_others_keep_pace(
    make_server: Any, make_kit: Any
) -> None:
    server = await make_server(
        send_queue_max=128,
        ws_send_buffer_bytes=16384,
        rate_limit_per_s=10_000,
        rate_limit_burst=10_000,
    )
    kit = make_kit(server.base_url)
    alice, bob, slow = [await kit.person(n) for n in ("alice", "bob", "slow")]
    session = await kit.session(alice, bob, slow)
    a = await kit.connect(alice, session)
    b = await kit.connect(bob, session)
    # This member never reads, so its socket buffers and then its queue fill up.
    token = (await kit.details(slow, session))["participant_token"]
    s = await kit.raw(kit.url(session["id"], token))
    payload = "z" * 3000
    COUNT = 800

    # Alice talks in bursts of 50 and both readers keep up with every burst; the slow member
    # reads nothing at all.
    for burst in range(0, COUNT, 50):
        for i in range(burst, burst + 50):
            await a.send({"type": "chat", "text": f"{i} {payload}"})
        for conn in (a, b):
            await conn.until(lambda f, n=burst + 49: f.get("text", "").startswith(f"{n} "))
    chats = [e for e in b.events if e["type"] == "chat"]
    assert len(chats) == COUNT
    # The slow socket gets a gap-free prefix of the room, then the 4008 close (not a hang).
    got = []
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            got.append(json.loads(await asyncio.wait_for(s.recv(), 15)))
    assert s.protocol.close_rcvd is not None and s.protocol.close_rcvd.code == 4008
    seqs = [f["seq"] for f in got[1:]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert len([f for f in got if f.get("type") == "chat"]) < COUNT
