"""The way into a room (``RoomDoor`` in ``server/live/ports.py``), on every engine: one step that
reaps, reads the window, joins presence, appends the join and lists the members."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from protocol.events import PresenceEvent, UserRef, encode_event
from server.live.ports import Departures, Entry

Harness = Any  # tests/server/live/conftest.py, reached through the ``engine`` fixture

_SESSION_IDS = itertools.count(1)


def new_session() -> int:
    return next(_SESSION_IDS)


def user(uid: int) -> UserRef:
    return UserRef(id=uid, name=f"user {uid}")


def join_of(who: UserRef) -> str:
    return encode_event(PresenceEvent(event="join", user=who, ts="2026-01-01T00:00:00Z"))


async def test_the_first_connection_of_a_user_appends_the_join_after_the_window(
    engine: Harness, collector: Any
) -> None:
    state = await engine.open()
    session = new_session()
    engine.seeds[session] = 40  # the log does not exist yet: entering creates it, seeded
    seen = collector()
    await state.log.subscribe(session, seen)

    entry = await state.door.enter(session, "c1", user(1), join_of(user(1)))

    assert isinstance(entry, Entry)
    assert entry.window.head == 40 and entry.window.first_seq == 41
    assert entry.joined is not None and entry.joined.seq == 41
    assert json.loads(entry.joined.data) == {**json.loads(join_of(user(1))), "seq": 41}
    assert isinstance(entry, Entry) and entry.members == [user(1)]
    await seen.wait_until(lambda: seen.seqs == [41])
    assert [e.seq for e in await state.log.read(session, 0)] == [41]
    persisted = await state.outbox.take(10, 1.0)
    assert [(i.session_id, i.seq) for i in persisted] == [(session, 41)]
    await state.outbox.ack(persisted)


async def test_a_second_connection_of_the_same_user_appends_nothing(engine: Harness) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session = new_session()
    first = await state.door.enter(session, "a1", user(1), join_of(user(1)))
    other = await peer.door.enter(session, "b1", user(2), join_of(user(2)))
    again = await peer.door.enter(session, "a2", user(1), join_of(user(1)))
    assert isinstance(first, Entry) and isinstance(other, Entry) and isinstance(again, Entry)

    assert first.joined is not None and other.joined is not None
    assert other.window.head == first.joined.seq
    assert again.joined is None
    assert again.window.head == other.joined.seq
    assert again.members == [user(1), user(2)]
    await state.outbox.ack(await state.outbox.take(10, 1.0))


async def test_entering_first_hands_back_expired_connections_for_the_caller_to_announce(
    engine: Harness,
) -> None:
    state = await engine.open(presence_ttl_s=0.3)
    peer = await engine.peer(state)
    session = new_session()
    await state.door.enter(session, "gone", user(1), join_of(user(1)))
    head_before = (await state.log.window(session)).head
    await asyncio.sleep(0.4)  # past the TTL, with no heartbeat

    answers = await asyncio.gather(
        state.door.enter(session, "x", user(2), join_of(user(2))),
        peer.door.enter(session, "y", user(3), join_of(user(3))),
    )

    # Exactly one caller reaped user 1, and did nothing else: its leave can go first.
    departures = [a for a in answers if isinstance(a, Departures)]
    assert [[u.id for u in d.users] for d in departures] == [[1]]
    entries = [a for a in answers if isinstance(a, Entry)]
    assert len(entries) == 1 and entries[0].window.head == head_before
    reaper, conn, who = (
        (state, "x", user(2)) if isinstance(answers[0], Departures) else (peer, "y", user(3))
    )
    again = await reaper.door.enter(session, conn, who, join_of(who))
    assert isinstance(again, Entry)
    assert await state.presence.members(session) == [user(2), user(3)]
    await state.outbox.ack(await state.outbox.take(10, 1.0))
