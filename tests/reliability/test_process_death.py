"""A server process dies in the middle of busy rooms: nobody loses or repeats an event.

Two `studyroom serve` processes share Redis and Postgres behind a balancer (a TCP relay that
skips a dead target, as a reverse proxy does). 200 SDK clients in 20 rooms chat and ask the
tutor; one process is killed with SIGKILL mid-run. Every client must end with the same
gap-free, duplicate-free sequence as the rest of its room, and the persisted transcript must
equal the room log.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from clients.sdk import Delivery, Room, RoomClosed, StudyroomClient
from protocol.events import TRANSIENT_EVENT_TYPES
from tests.fakes.scripted_openai import Script, ScriptedOpenAI
from tests.fakes.tcp_relay import Relay

ROOMS = 20
MEMBERS = 10
CHAT_EVERY_S = 2.0
PASSWORD = "correct horse battery"

FAST_FAILOVER = {
    "STUDYROOM_PRESENCE_TTL_S": "2",
    "STUDYROOM_PRESENCE_HEARTBEAT_S": "0.5",
    "STUDYROOM_TRANSCRIPT_CLAIM_IDLE_S": "2",
    "STUDYROOM_TUTOR_LEASE_S": "2",
    "STUDYROOM_RATE_LIMIT_BURST": "100",
    "STUDYROOM_TUTOR_ASKS_PER_MINUTE": "600",
}


@dataclass
class Member:
    """One client: a user's socket in one room, and everything the SDK delivered to it."""

    user: int
    room: Room
    got: list[Delivery] = field(default_factory=list)
    sent: int = 0

    @property
    def seqs(self) -> list[int]:
        return [d.seq for d in self.got if d.seq is not None]


async def _reader(member: Member) -> None:
    with contextlib.suppress(RoomClosed, asyncio.CancelledError):
        async for delivery in member.room:
            member.got.append(delivery)


async def _chatter(member: Member, stop: asyncio.Event, tag: str) -> None:
    await asyncio.sleep(random.random() * CHAT_EVERY_S)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await member.room.chat(f"{tag}-{member.sent}", client_msg_id=f"{tag}-{member.sent}")
            member.sent += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CHAT_EVERY_S)


@pytest.fixture
async def model() -> AsyncIterator[ScriptedOpenAI]:
    # Slow enough that turns are streaming when the process dies.
    answer = Script.tokens("A cell makes energy in its mitochondria. " * 8, per_token_delay=0.03)
    async with ScriptedOpenAI(default=answer) as scripted:
        yield scripted


async def test_sigkill_mid_run_loses_and_repeats_nothing(
    services_backend: Any, spawn: Any, unique: Any, model: ScriptedOpenAI
) -> None:
    env = services_backend.env(
        **FAST_FAILOVER,
        STUDYROOM_TUTOR_PROVIDER="openai",
        STUDYROOM_TUTOR_MODEL="scripted",
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=model.base_url,
    )
    doomed, survivor = spawn(env), spawn(env)
    balancer = Relay(("127.0.0.1", doomed.port), ("127.0.0.1", survivor.port))
    await balancer.start()
    clients: list[StudyroomClient] = []
    members: list[Member] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        for i in range(MEMBERS):
            client = StudyroomClient(balancer.base_url)
            clients.append(client)
            name = unique(f"m{i}")
            await client.register(name, PASSWORD, display_name=f"member {i}")
            await client.login(name, PASSWORD)
        owner = clients[0]
        topic = await owner.create_topic("Cell biology")
        sessions = [await owner.create_session(topic.id, f"room {r}") for r in range(ROOMS)]
        for client in clients[1:]:
            for session in sessions:
                await client.join(session.join_code)
        rooms: dict[int, list[Member]] = {s.id: [] for s in sessions}
        for session in sessions:
            for user, client in enumerate(clients):
                # The balancer alternates, so each room has members on both processes.
                member = Member(user, client.room(session.id))
                await member.room.open()
                rooms[session.id].append(member)
                members.append(member)
        tasks += [asyncio.create_task(_reader(m)) for m in members]
        stop = asyncio.Event()
        tasks += [
            asyncio.create_task(_chatter(m, stop, f"r{sid}u{m.user}"))
            for sid, room_members in rooms.items()
            for m in room_members
        ]
        # Asks come from different users: each user's questions are rate-limited.
        for r, room_members in enumerate(rooms.values()):
            await room_members[r % MEMBERS].room.ask("How does a cell make energy?")

        await asyncio.sleep(3)
        doomed.kill()
        await asyncio.sleep(4)
        for r, room_members in enumerate(rooms.values()):
            await room_members[(r + 1) % MEMBERS].room.ask("And after the restart?")
        await asyncio.sleep(2)
        stop.set()

        # Quiescence: every turn ended and every member holds its room's whole log.
        for sid, room_members in rooms.items():
            await _until_settled(sid, room_members)
        for sid, room_members in rooms.items():
            _assert_one_view(room_members)
            await _assert_transcript_is_the_log(owner, sid, room_members[0])
        assert sum(m.room.reconnects for m in members) >= ROOMS  # half the sockets moved
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for member in members:
            await member.room.close()
        for client in clients:
            await client.aclose()
        await balancer.stop()


async def _until_settled(session_id: int, room_members: list[Member], timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        turns = _turns(room_members[0])
        heads = {m.seqs[-1] if m.seqs else 0 for m in room_members}
        if turns and all(ended for ended in turns.values()) and len(heads) == 1:
            await asyncio.sleep(0.5)  # nothing more is on its way
            if {m.seqs[-1] for m in room_members} == heads:
                return
        await asyncio.sleep(0.2)
    errors = [d.data for m in room_members for d in m.got if d.type == "error"]
    raise AssertionError(
        f"room {session_id} did not settle: heads {heads}, turns {turns}, errors {errors[:5]}"
    )


def _turns(member: Member) -> dict[str, bool]:
    """turn_id -> whether its terminal event arrived."""
    turns: dict[str, bool] = {}
    for d in member.got:
        if d.type == "ask":
            turns.setdefault(d.data["turn_id"], False)
        elif d.type in ("agent.done", "agent.error"):
            turns[d.data["turn_id"]] = True
    return turns


def _assert_one_view(room_members: list[Member]) -> None:
    first = room_members[0]
    for member in room_members:
        assert not any(d.reloaded for d in member.got), "the live log was kept: no reload"
        seqs = member.seqs
        assert seqs == list(range(seqs[0], seqs[-1] + 1)), "gap or duplicate"
        # The same seq is the same event for everyone.
        mine = {d.seq: d.data for d in member.got if d.seq is not None}
        theirs = {d.seq: d.data for d in first.got if d.seq is not None}
        assert all(mine[s] == theirs[s] for s in mine.keys() & theirs.keys())
    ends: dict[str, int] = {}
    for d in first.got:
        if d.type in ("agent.done", "agent.error"):
            ends[d.data["turn_id"]] = ends.get(d.data["turn_id"], 0) + 1
    assert ends and all(n == 1 for n in ends.values()), "each turn ends exactly once"
    assert len(_turns(first)) == 2, "both asks of the room were answered or interrupted"


async def _assert_transcript_is_the_log(
    client: StudyroomClient, session_id: int, member: Member, timeout: float = 30
) -> None:
    # A member that joined first saw the room from seq 1; its view is the room log.
    log = [d.data for d in member.got if d.seq is not None and d.type not in TRANSIENT_EVENT_TYPES]
    assert log[0]["seq"] == 1
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await client.messages(session_id)
        if len(rows) >= len(log) or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.3)
    assert [r["seq"] for r in rows] == [e["seq"] for e in log], "missing or duplicated rows"
    assert [(r["type"], r.get("text")) for r in rows] == [(e["type"], e.get("text")) for e in log]
