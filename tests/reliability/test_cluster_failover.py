"""A Redis Cluster master SIGKILLed under two server processes and a steady chat load.

The test starts a cluster of its own (killing a master leaves the shared one without a
replica). Rooms on the other masters go on; rooms on the dead one restart once its replica has
taken over: members are closed with 1012 and come back with ``resumed: false`` above every
number they had seen. No process crashes and the transcript repeats nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets
from redis.asyncio.cluster import RedisCluster as ClusterClient

from server.live.keys import LiveKeys
from server.live.redis_engine import CLUSTER_PARTITIONS
from tests.conftest import Backend
from tests.support import Conn, RoomKit
from tests.support.redis_cluster import RedisCluster, redis_cluster

ROOMS = 6
BACK_WITHIN_S = 30.0


@pytest.fixture
def own_cluster() -> Iterator[RedisCluster]:
    with redis_cluster() as cluster:
        yield cluster


@dataclass
class Member:
    """A member's socket, read all the time so the server never finds it slow."""

    conn: Conn
    frames: list[dict[str, Any]] = field(default_factory=list)
    closed: asyncio.Future[int | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def start(self) -> asyncio.Task[None]:
        return asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            while True:
                self.frames.append(await self.conn.recv(timeout=BACK_WITHIN_S * 2))
        except websockets.ConnectionClosed:
            received = self.conn.ws.protocol.close_rcvd
            self.closed.set_result(received.code if received else None)
        except BaseException as exc:
            self.closed.set_exception(exc)

    @property
    def seqs(self) -> list[int]:
        return [frame["seq"] for frame in self.frames if "seq" in frame]


async def test_a_master_killed_mid_load_restarts_only_its_rooms_and_repeats_nothing(
    services_backend: Backend, own_cluster: RedisCluster, spawn: Any, make_kit: Any
) -> None:
    backend = Backend(
        "cluster", services_backend.database_url, own_cluster.url, f"t{uuid.uuid4().hex[:12]}"
    )
    one, two = spawn(backend.env()), spawn(backend.env())
    kit1, kit2 = make_kit(one.base_url), make_kit(two.base_url)
    alice, bob = await kit1.person("alice"), await kit1.person("bob")
    sessions = [await kit1.session(alice, bob) for _ in range(ROOMS)]
    owners = await _owners(own_cluster, backend.redis_prefix, [s["id"] for s in sessions])
    while len(set(owners.values())) < 3:
        sessions.append(await kit1.session(alice, bob))
        owners = await _owners(own_cluster, backend.redis_prefix, [s["id"] for s in sessions])
    victim = own_cluster.master_at(owners[sessions[0]["id"]])
    doomed = {s["id"] for s in sessions if owners[s["id"]] == victim.address}

    senders = {s["id"]: Member(await kit1.connect(alice, s)) for s in sessions}
    readers = {s["id"]: Member(await kit2.connect(bob, s)) for s in sessions}
    pumps = [m.start() for m in (*senders.values(), *readers.values())]
    stop = asyncio.Event()
    load = asyncio.create_task(_chat(senders, stop))
    try:
        await asyncio.sleep(1.0)
        held = {sid: readers[sid].seqs[-1] for sid in doomed}
        epochs = {sid: readers[sid].conn.welcome["epoch"] for sid in doomed}
        own_cluster.kill(victim)

        # The dead master's rooms restart (1012); the others are never closed.
        for sid in doomed:
            for member in (senders[sid], readers[sid]):
                assert await asyncio.wait_for(member.closed, BACK_WITHIN_S) == 1012
        await asyncio.sleep(1.0)
        for sid in set(senders) - doomed:
            assert not senders[sid].closed.done() and not readers[sid].closed.done()
        # They come back with resumed false, above every number their members had.
        for sid in doomed:
            session = next(s for s in sessions if s["id"] == sid)
            again = await _rejoin(kit2, bob, session, held[sid], epochs[sid])
            assert again.welcome["resumed"] is False
            assert again.welcome["epoch"] != epochs[sid]
            assert again.welcome["seq"] > held[sid]
            await again.send({"type": "chat", "text": f"after-{sid}"})
            after = await again.until(lambda f, t=f"after-{sid}": f.get("text") == t)
            assert after["seq"] > held[sid]
            await again.ws.close()
    finally:
        stop.set()
        await load
        for member in (*senders.values(), *readers.values()):
            await member.conn.ws.close()
        await asyncio.gather(*pumps, return_exceptions=True)

    # No process died and no connection handler crashed.
    for process in (one, two):
        assert process.process.poll() is None
        with open(process.log_path, errors="replace") as log:
            assert "Exception in ASGI application" not in log.read()
    # Every room's transcript holds each chat at most once, in seq order.
    for session in sessions:
        rows = await _settled_transcript(kit1, alice, session["id"])
        texts = [row["text"] for row in rows if row["type"] == "chat"]
        assert len(texts) == len(set(texts)), session["id"]
        seqs = [row["seq"] for row in rows]
        assert seqs == sorted(set(seqs)), session["id"]


async def _chat(senders: dict[int, Member], stop: asyncio.Event) -> None:
    """A chat in every room every 100 ms; refusals (``unavailable``) are not sent again."""
    n = 0
    while not stop.is_set():
        n += 1
        for sid, member in senders.items():
            if not member.closed.done():
                with contextlib.suppress(websockets.ConnectionClosed):
                    await member.conn.send({"type": "chat", "text": f"{sid}-{n}"})
        await asyncio.sleep(0.1)


async def _rejoin(kit: RoomKit, person: Any, session: Any, last_seq: int, epoch: str) -> Conn:
    """As a client does after 1012: again, with back-off, until welcomed."""
    deadline = asyncio.get_running_loop().time() + BACK_WITHIN_S
    while True:
        with contextlib.suppress(OSError, websockets.InvalidHandshake, AssertionError):
            return await kit.connect(person, session, last_seq=last_seq, epoch=epoch)
        assert asyncio.get_running_loop().time() < deadline, "the room did not come back"
        await asyncio.sleep(0.2)


async def _settled_transcript(kit: RoomKit, person: Any, session_id: int) -> list[Any]:
    """The transcript once the writers have stopped adding to it."""
    rows: list[Any] = []
    for _ in range(50):
        latest: list[Any] = await kit.messages(person, session_id)
        if rows and len(latest) == len(rows):
            return latest
        rows = latest
        await asyncio.sleep(0.3)
    return rows


async def _owners(cluster: RedisCluster, prefix: str, session_ids: list[int]) -> dict[int, str]:
    keys = LiveKeys(prefix, CLUSTER_PARTITIONS)
    async with ClusterClient.from_url(cluster.seed_url) as client:
        return {sid: client.get_node_from_key(keys.log(sid)).name for sid in session_ids}
