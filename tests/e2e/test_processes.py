"""Several real server processes sharing Redis and Postgres; killing and stopping them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets

FAST_PRESENCE = {
    "STUDYROOM_PRESENCE_TTL_S": "2",
    "STUDYROOM_PRESENCE_HEARTBEAT_S": "0.5",
    "STUDYROOM_TRANSCRIPT_CLAIM_IDLE_S": "2",
}


async def test_two_processes_give_one_order(
    services_backend: Any, spawn: Any, make_kit: Any
) -> None:
    one = spawn(services_backend.env())
    two = spawn(services_backend.env())
    kit1, kit2 = make_kit(one.base_url), make_kit(two.base_url)
    alice, bob, carol = (
        await kit1.person("alice"),
        await kit1.person("bob"),
        await kit1.person("carol"),
    )
    session = await kit1.session(alice, bob, carol)
    a = await kit1.connect(alice, session)
    b = await kit2.connect(bob, session)
    c = await kit2.connect(carol, session)
    await asyncio.gather(
        *(
            conn.send({"type": "chat", "text": f"{tag}-{i}"})
            for i in range(20)
            for conn, tag in ((a, "a"), (b, "b"), (c, "c"))
        )
    )
    for conn in (a, b, c):
        for tag in "abc":
            await conn.seen(lambda f, t=tag: f.get("text") == f"{t}-19", timeout=20)
    head = max(conn.last_seq for conn in (a, b, c))
    for conn in (a, b, c):
        await conn.until_seq(head, timeout=20)
    start = c.welcome["seq"] + 1
    views = [
        [(e["seq"], e["type"], e.get("text")) for e in conn.events if e["seq"] >= start]
        for conn in (a, b, c)
    ]
    assert views[0] == views[1] == views[2]
    seqs = [s for s, _, _ in views[0]]
    assert seqs == list(range(start, head + 1))
    assert sum(1 for _, kind, _ in views[0] if kind == "chat") == 60


async def test_members_of_a_killed_process_resume_on_the_other(
    services_backend: Any, spawn: Any, make_kit: Any
) -> None:
    env = services_backend.env(**FAST_PRESENCE)
    doomed, survivor = spawn(env), spawn(env)
    kit_d, kit_s = make_kit(doomed.base_url), make_kit(survivor.base_url)
    alice, bob = await kit_s.person("alice"), await kit_s.person("bob")
    session = await kit_s.session(alice, bob)
    a = await kit_s.connect(alice, session)
    b = await kit_d.connect(bob, session)
    await a.until(lambda f: f.get("type") == "presence" and f["user"]["id"] == bob.id)
    for i in range(5):
        await a.send({"type": "chat", "text": f"before-{i}"})
    await b.until(lambda f: f.get("text") == "before-4")
    seen = b.last_seq
    doomed.kill()
    with pytest.raises(websockets.ConnectionClosed):
        await b.recv(5)
    for i in range(5):
        await a.send({"type": "chat", "text": f"during-{i}"})
    await a.until(lambda f: f.get("text") == "during-4")
    # Bob's presence from the dead process expires: the survivor announces his leave.
    left = await a.until(
        lambda f: (
            f.get("type") == "presence" and f["event"] == "leave" and f["user"]["id"] == bob.id
        ),
        timeout=15,
    )
    b2 = await kit_s.connect(bob, session, last_seq=seen)
    assert b2.welcome["resumed"] is True
    await a.send({"type": "chat", "text": "after"})
    await b2.until(lambda f: f.get("text") == "after")
    seqs = [e["seq"] for e in b2.events]
    assert seqs == list(range(seen + 1, seqs[-1] + 1))
    texts = [e["text"] for e in b2.events if e["type"] == "chat"]
    assert texts == [f"during-{i}" for i in range(5)] + ["after"]
    assert left["seq"] in seqs
    # The transcript holds every chat exactly once.
    await _until_transcript(
        kit_s, alice, session["id"], lambda rows: sum(r["type"] == "chat" for r in rows) == 11
    )
    rows = await kit_s.messages(alice, session["id"])
    assert [r["seq"] for r in rows] == sorted({r["seq"] for r in rows})


async def _until_transcript(
    kit: Any, person: Any, session_id: int, done: Any, timeout: float = 15
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if done(await kit.messages(person, session_id)):
            return
        await asyncio.sleep(0.2)
    raise AssertionError("transcript did not catch up")


@pytest.mark.parametrize("engine", ["embedded", "services"])
async def test_sigterm_closes_sockets_with_1012(
    engine: str, request: Any, spawn: Any, make_kit: Any
) -> None:
    backend = request.getfixturevalue(f"{engine}_backend")
    proc = spawn(backend.env())
    kit = make_kit(proc.base_url)
    alice = await kit.person("alice")
    session = await kit.session(alice)
    a = await kit.connect(alice, session)
    await a.send({"type": "chat", "text": "last words"})
    await a.until(lambda f: f.get("text") == "last words")
    code = await asyncio.to_thread(proc.terminate)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why.
    assert code in (0, -15)
    assert await a.closed_with() == 1012
    # The chat reached the transcript before the process exited.
    restarted = spawn(backend.env())
    kit2 = make_kit(restarted.base_url)
    rows = await kit2.messages(alice, session["id"])
    assert [r["text"] for r in rows if r["type"] == "chat"] == ["last words"]


async def test_a_turn_on_a_killed_process_ends_interrupted_and_the_next_ask_is_answered(
    services_backend: Any, spawn: Any, make_kit: Any
) -> None:
    from tests.fakes.scripted_openai import Script, ScriptedOpenAI

    async with ScriptedOpenAI() as model:
        model.enqueue(Script.tokens("slow " * 300, per_token_delay=0.05))
        env = services_backend.env(
            **FAST_PRESENCE,
            STUDYROOM_TUTOR_PROVIDER="openai",
            STUDYROOM_TUTOR_MODEL="scripted",
            STUDYROOM_TUTOR_LEASE_S="2",
            OPENAI_API_KEY="test-key",
            OPENAI_BASE_URL=model.base_url,
        )
        doomed, survivor = spawn(env), spawn(env)
        kit_d, kit_s = make_kit(doomed.base_url), make_kit(survivor.base_url)
        alice, bob = await kit_s.person("alice"), await kit_s.person("bob")
        session = await kit_s.session(alice, bob)
        a = await kit_d.connect(alice, session)
        b = await kit_s.connect(bob, session)
        await a.send({"type": "ask", "text": "Explain slowly"})
        asked = await b.until(lambda f: f.get("type") == "ask")
        await b.until(lambda f: f.get("type") == "agent.delta")
        doomed.kill()
        end = await b.until(
            lambda f: (
                f.get("turn_id") == asked["turn_id"] and f["type"] in ("agent.done", "agent.error")
            ),
            timeout=20,
        )
        assert end["type"] == "agent.error" and end["code"] == "interrupted"
        model.enqueue(Script.tokens("Here I am."))
        await b.send({"type": "ask", "text": "Still there?"})
        again = await b.until(lambda f: f.get("type") == "ask" and f["text"] == "Still there?")
        done = await b.until(
            lambda f: f.get("turn_id") == again["turn_id"] and f["type"] == "agent.done",
            timeout=20,
        )
        assert done["text"] == "Here I am."
        ends = [
            e
            for e in b.events
            if e.get("turn_id") == asked["turn_id"] and e["type"] in ("agent.done", "agent.error")
        ]
        assert len(ends) == 1
