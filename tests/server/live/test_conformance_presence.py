"""Presence's guarantees (``server/live/ports.py``), checked on the memory and the Redis engine.

``peer`` is a second process sharing the backend (Redis); with the memory engine it is the
same process, so cross-process tests still run, on one process.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from protocol.events import UserRef

Harness = Any  # tests/server/live/conftest.py, reached through the ``engine`` fixture

# Each harness has its own key prefix; within one it is enough that ids differ.
_SESSION_IDS = itertools.count(1)


def new_session() -> int:
    return next(_SESSION_IDS)


def user(uid: int) -> UserRef:
    return UserRef(id=uid, name=f"user {uid}")


async def test_a_user_with_two_connections_is_one_member(engine: Harness) -> None:
    state = await engine.open()
    session = new_session()
    ada = user(1)

    assert await state.presence.join(session, "c1", ada) is True
    assert await state.presence.join(session, "c2", ada) is False
    assert await state.presence.members(session) == [ada]
    assert await state.presence.leave(session, "c1") is None
    assert await state.presence.members(session) == [ada]
    assert await state.presence.leave(session, "c2") == ada
    assert await state.presence.members(session) == []
    assert await state.presence.leave(session, "c2") is None


async def test_exactly_one_caller_learns_of_each_join_and_leave(engine: Harness) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session = new_session()
    ada = user(1)

    joined = await asyncio.gather(
        state.presence.join(session, "c1", ada), peer.presence.join(session, "c2", ada)
    )
    left = await asyncio.gather(
        state.presence.leave(session, "c1"), peer.presence.leave(session, "c2")
    )
    assert sorted(joined) == [False, True]
    assert sorted(left, key=lambda u: u is None) == [ada, None]

    await state.presence.join(session, "c3", ada)
    left = await asyncio.gather(
        state.presence.leave(session, "c3"), peer.presence.leave(session, "c3")
    )
    assert sorted(left, key=lambda u: u is None) == [ada, None]


async def test_members_are_ordered_by_id(engine: Harness) -> None:
    state = await engine.open()
    session = new_session()
    for uid in (30, 5, 12):
        await state.presence.join(session, f"c{uid}", user(uid))

    assert await state.presence.members(session) == [user(5), user(12), user(30)]


async def test_expired_users_are_reaped_exactly_once_across_processes(engine: Harness) -> None:
    state = await engine.open(presence_ttl_s=0.3)
    peer = await engine.peer(state)
    session = new_session()
    await state.presence.join(session, "a", user(1))
    await state.presence.join(session, "b1", user(2))
    await peer.presence.join(session, "b2", user(2))
    await peer.presence.join(session, "c", user(3))
    assert await state.presence.reap(session) == []

    await asyncio.sleep(0.4)  # past the TTL, with no heartbeat
    assert await peer.presence.members(session) == [user(1), user(2), user(3)]
    reaped = await asyncio.gather(*(s.presence.reap(session) for s in (state, peer) * 2))

    assert sorted(u.id for users in reaped for u in users) == [1, 2, 3]
    assert await state.presence.reap(session) == []
    assert await peer.presence.members(session) == []


async def test_heartbeat_keeps_connections_past_the_ttl(engine: Harness) -> None:
    state = await engine.open(presence_ttl_s=0.3)
    session = new_session()
    await state.presence.join(session, "kept", user(1))
    await state.presence.join(session, "dropped", user(2))

    for _ in range(3):  # 0.45 s in all, each beat within the TTL of the one before
        await asyncio.sleep(0.15)
        await state.presence.heartbeat(session, ["kept"])

    assert await state.presence.reap(session) == [user(2)]
    assert await state.presence.members(session) == [user(1)]


async def test_members_lists_expired_users_until_reap_takes_them(engine: Harness) -> None:
    state = await engine.open(presence_ttl_s=0.3)
    peer = await engine.peer(state)
    session = new_session()
    await state.presence.join(session, "gone", user(1))
    await asyncio.sleep(0.4)  # past the TTL, with no heartbeat
    await state.presence.join(session, "fresh", user(2))

    # Listing removes nothing: the one departure is left for reap, whose caller announces it.
    assert await state.presence.members(session) == [user(1), user(2)]
    assert await peer.presence.members(session) == [user(1), user(2)]
    assert await peer.presence.reap(session) == [user(1)]
    assert await state.presence.reap(session) == []
    assert await state.presence.members(session) == [user(2)]
    assert await peer.presence.members(session) == [user(2)]


async def test_a_lingering_connection_counts_until_reaped_after_its_grace(engine: Harness) -> None:
    state = await engine.open(presence_ttl_s=30.0)
    peer = await engine.peer(state)
    session = new_session()
    await state.presence.join(session, "old", user(1))
    await state.presence.join(session, "stays", user(2))

    await state.presence.linger(session, "old", 0.3)
    assert await peer.presence.reap(session) == [], "within its grace it is still there"
    assert await peer.presence.members(session) == [user(1), user(2)]

    await asyncio.sleep(0.4)  # past the grace, far within the TTL
    assert await peer.presence.reap(session) == [user(1)]
    assert await state.presence.members(session) == [user(2)]
    await state.presence.linger(session, "old", 0.3)  # gone already: it stays gone
    assert await state.presence.members(session) == [user(2)]


async def test_a_user_back_within_the_grace_never_leaves(engine: Harness) -> None:
    state = await engine.open(presence_ttl_s=30.0)
    peer = await engine.peer(state)
    session = new_session()
    assert await state.presence.join(session, "before", user(1)) is True

    await state.presence.linger(session, "before", 0.2)
    assert await peer.presence.join(session, "after", user(1)) is False, "no second join"
    await asyncio.sleep(0.3)

    assert await state.presence.reap(session) == [], "the user still has a connection"
    assert await peer.presence.members(session) == [user(1)]
