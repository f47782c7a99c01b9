"""Two server processes on a real Redis Cluster: rooms on every master, one order per room,
the transcript whole, asks answered, and one user's ask limit counted across both processes."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio.cluster import RedisCluster as ClusterClient

from server.live.keys import LiveKeys
from server.live.redis_engine import CLUSTER_PARTITIONS
from tests.fakes.scripted_openai import Script, ScriptedOpenAI

ROOMS = 6
CHATS = 10


async def _masters_of(live_cluster: Any, prefix: str, session_ids: list[int]) -> set[str]:
    keys = LiveKeys(prefix, CLUSTER_PARTITIONS)
    async with ClusterClient.from_url(live_cluster.seed_url) as client:
        return {client.get_node_from_key(keys.log(sid)).name for sid in session_ids}


async def test_two_processes_on_a_cluster_give_one_order_per_room(
    cluster_backend: Any, live_cluster: Any, spawn: Any, make_kit: Any
) -> None:
    one, two = spawn(cluster_backend.env()), spawn(cluster_backend.env())
    kit1, kit2 = make_kit(one.base_url), make_kit(two.base_url)
    alice, bob = await kit1.person("alice"), await kit1.person("bob")
    sessions = [await kit1.session(alice, bob) for _ in range(ROOMS)]
    # Sessions made one after another are spread over the masters; make sure all three serve.
    for _ in range(20):
        ids = [s["id"] for s in sessions]
        if len(await _masters_of(live_cluster, cluster_backend.redis_prefix, ids)) == 3:
            break
        sessions.append(await kit1.session(alice, bob))
    assert len(await _masters_of(live_cluster, cluster_backend.redis_prefix, ids)) == 3
    rooms = [(await kit1.connect(alice, s), await kit2.connect(bob, s)) for s in sessions]

    await asyncio.gather(
        *(
            conn.send({"type": "chat", "text": f"{n}-{who}-{i}"})
            for n, pair in enumerate(rooms)
            for who, conn in zip("ab", pair, strict=True)
            for i in range(CHATS)
        )
    )
    for n, (a, b) in enumerate(rooms):
        for conn in (a, b):
            for who in "ab":
                await conn.seen(
                    lambda f, t=f"{n}-{who}-{CHATS - 1}": f.get("text") == t, timeout=20
                )
        head = max(a.last_seq, b.last_seq)
        await a.until_seq(head, timeout=20)
        await b.until_seq(head, timeout=20)
        start = b.welcome["seq"] + 1
        views = [
            [(e["seq"], e.get("text")) for e in conn.events if e["seq"] >= start] for conn in (a, b)
        ]
        assert views[0] == views[1]
        assert [seq for seq, _ in views[0]] == list(range(start, head + 1))
        chats = [text for _, text in views[0] if text and text.startswith(f"{n}-")]
        assert sorted(chats) == sorted(f"{n}-{w}-{i}" for w in "ab" for i in range(CHATS))

    # Every process's transcript writer reads every partition: each chat stored exactly once.
    for n, session in enumerate(sessions):
        rows = await _transcript(kit2, bob, session["id"], 2 * CHATS)
        texts = [r["text"] for r in rows if r["type"] == "chat"]
        assert sorted(texts) == sorted(f"{n}-{w}-{i}" for w in "ab" for i in range(CHATS))
        assert [r["seq"] for r in rows] == sorted({r["seq"] for r in rows})


async def test_an_ask_limit_holds_across_processes_on_a_cluster(
    cluster_backend: Any, spawn: Any, make_kit: Any
) -> None:
    async with ScriptedOpenAI() as model:
        for _ in range(6):
            model.enqueue(Script.tokens("Fine."))
        env = cluster_backend.env(
            STUDYROOM_TUTOR_PROVIDER="openai",
            STUDYROOM_TUTOR_MODEL="scripted",
            OPENAI_API_KEY="test-key",
            OPENAI_BASE_URL=model.base_url,
            # Three asks at once, then one an hour: the burst is all a test can spend.
            STUDYROOM_TUTOR_ASK_BURST="3",
            STUDYROOM_TUTOR_ASKS_PER_MINUTE="0.0167",
        )
        one, two = spawn(env), spawn(env)
        kit1, kit2 = make_kit(one.base_url), make_kit(two.base_url)
        ada = await kit1.person("ada")
        first, second = await kit1.session(ada), await kit1.session(ada)
        a = await kit1.connect(ada, first)
        b = await kit2.connect(ada, second)
        for i in range(3):
            for conn in (a, b):
                await conn.send({"type": "ask", "text": f"question {i}"})
        # Each ask is answered by its ask event or by a refusal, on the socket that sent it.
        for conn in (a, b):
            await conn.until(lambda f, c=conn: _answered(c) == 3, timeout=20)
        asks = [e for conn in (a, b) for e in conn.events if e.get("type") == "ask"]
        refused = [e for conn in (a, b) for e in conn.others if _refusal(e)]
        # Three through both processes together, not three through each.
        assert len(asks) == 3
        assert len(refused) == 3
        for conn in (a, b):
            for ask in [e for e in conn.events if e.get("type") == "ask"]:
                await conn.seen(
                    lambda f, t=ask["turn_id"]: (
                        f.get("type") == "agent.done" and f.get("turn_id") == t
                    ),
                    timeout=20,
                )


def _refusal(frame: dict[str, Any]) -> bool:
    return frame.get("type") == "error" and frame.get("code") == "rate_limited"


def _answered(conn: Any) -> int:
    asks = sum(e.get("type") == "ask" for e in conn.events)
    return asks + sum(_refusal(e) for e in conn.others)


async def _transcript(kit: Any, person: Any, session_id: int, chats: int) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        rows: list[Any] = await kit.messages(person, session_id)
        if sum(r["type"] == "chat" for r in rows) >= chats:
            return rows
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"transcript of {session_id} did not catch up: {len(rows)} rows")
        await asyncio.sleep(0.2)
