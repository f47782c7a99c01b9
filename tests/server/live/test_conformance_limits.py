"""The tutor's admission counters (``TutorLimits`` in ``server/live/ports.py``), on every engine.

``peer`` is a second process sharing the backend (Redis); with the memory engine it is the
same process. Time is the ``now`` each call passes, so refills are checked as values.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

from server.live.memory import MemoryTutorLimits
from server.live.ports import SessionAsks, SessionTokens, UserAsks, UserTokens

Harness = Any  # tests/server/live/conftest.py, reached through the ``engine`` fixture

T0 = 1_780_000_000.25  # a wall-clock time, so the engines see realistic magnitudes

# Each harness has its own key prefix; within one it is enough that ids differ.
_SESSION_IDS = itertools.count(1)


def new_session() -> int:
    return next(_SESSION_IDS)


def new_user() -> int:
    return uuid.uuid4().int % 1_000_000_000


async def test_a_bucket_allows_its_burst_then_refills_at_its_rate(engine: Harness) -> None:
    limits = (await engine.open()).limits
    bucket = UserAsks(new_user())

    taken = [await limits.take(bucket, T0, 0.5, 3) for _ in range(4)]
    assert taken == [True, True, True, False]
    assert await limits.take(bucket, T0 + 1.0, 0.5, 3) is False, "half a token is not one"
    assert await limits.take(bucket, T0 + 2.0, 0.5, 3) is True
    assert await limits.take(bucket, T0 + 2.0, 0.5, 3) is False
    refilled = [await limits.take(bucket, T0 + 1000.0, 0.5, 3) for _ in range(4)]
    assert refilled == [True, True, True, False], "never more than the burst saved up"


async def test_buckets_of_users_and_sessions_are_separate(engine: Harness) -> None:
    limits = (await engine.open()).limits
    session, user = new_session(), new_user()
    assert await limits.take(UserAsks(user), T0, 1.0, 1) is True
    assert await limits.take(UserAsks(user), T0, 1.0, 1) is False
    assert await limits.take(UserAsks(user + 1), T0, 1.0, 1) is True
    assert await limits.take(SessionAsks(session), T0, 1.0, 1) is True
    assert await limits.take(SessionAsks(new_session()), T0, 1.0, 1) is True


async def test_a_given_back_token_can_be_taken_again_but_never_beyond_the_burst(
    engine: Harness,
) -> None:
    limits = (await engine.open()).limits
    bucket = SessionAsks(new_session())
    assert await limits.take(bucket, T0, 0.01, 2) is True
    assert await limits.take(bucket, T0, 0.01, 2) is True
    assert await limits.take(bucket, T0, 0.01, 2) is False
    await limits.give_back(bucket, T0, 0.01, 2)
    assert await limits.take(bucket, T0, 0.01, 2) is True
    await limits.give_back(bucket, T0, 0.01, 2)
    await limits.give_back(bucket, T0, 0.01, 2)
    await limits.give_back(bucket, T0, 0.01, 2)
    taken = [await limits.take(bucket, T0, 0.01, 2) for _ in range(3)]
    assert taken == [True, True, False]


async def test_a_clock_behind_the_last_call_neither_refills_nor_drains(engine: Harness) -> None:
    limits = (await engine.open()).limits
    bucket = UserAsks(new_user())
    assert await limits.take(bucket, T0, 1.0, 1) is True
    assert await limits.take(bucket, T0 - 50.0, 1.0, 1) is False
    assert await limits.take(bucket, T0 + 1.0, 1.0, 1) is True


async def test_processes_taking_together_spend_each_token_once(engine: Harness) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    bucket = SessionAsks(new_session())
    taken = await asyncio.gather(
        *(s.limits.take(bucket, T0, 0.001, 5) for s in (state, peer) for _ in range(10))
    )
    assert sum(taken) == 5


async def test_charges_add_up_per_budget_without_losing_any(engine: Harness) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session, user = SessionTokens(new_session()), new_user()
    today, tomorrow = UserTokens(user, 20_000), UserTokens(user, 20_001)
    assert await state.limits.spent(session) == 0
    await asyncio.gather(*(s.limits.charge(session, 7) for s in (state, peer) for _ in range(10)))
    assert await state.limits.spent(session) == 140
    assert await peer.limits.charge(session, 1) == 141
    assert await state.limits.charge(today, 500) == 500
    assert await state.limits.spent(tomorrow) == 0
    assert await peer.limits.spent(today) == 500
    assert await state.limits.spent(SessionTokens(new_session())) == 0


async def test_reservations_from_every_process_never_pass_the_ceiling_together(
    engine: Harness,
) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session = SessionTokens(new_session())
    await state.limits.charge(session, 50)
    reserved = await asyncio.gather(
        *(s.limits.reserve(session, 100, 1_000) for s in (state, peer) for _ in range(10))
    )
    # 50 + 9 * 100 fits under 1,000; a tenth reservation would not, whichever process asks.
    assert sum(reserved) == 9
    assert await peer.limits.spent(session) == 950
    assert await state.limits.reserve(session, 50, 1_000) is True
    assert await state.limits.reserve(session, 1, 1_000) is False
    # Settling gives back what a turn did not spend, and reservations fit again.
    assert await peer.limits.charge(session, -300) == 700
    assert await state.limits.reserve(session, 300, 1_000) is True
    today = UserTokens(new_user(), 20_000)
    assert await peer.limits.reserve(today, 10, 9) is False
    assert await peer.limits.spent(today) == 0


async def test_counters_do_not_outlive_their_use(engine: Harness) -> None:
    state = await engine.open()
    session, user = new_session(), new_user()
    await state.limits.take(UserAsks(user), T0, 2.0, 3)
    await state.limits.take(SessionAsks(session), T0, 2.0, 3)
    await state.limits.charge(SessionTokens(session), 10)
    await state.limits.reserve(UserTokens(user, 20_000), 10, 100)
    if not engine.shared:
        await _memory_forgets()
        return
    keys = engine.keys
    async with engine.admin() as client:
        # A bucket one token short is full again after half a second: it may go then.
        assert 0 < await client.pttl(keys.user_asks(user)) <= 1500
        assert 0 < await client.pttl(keys.session_asks(session)) <= 1500
        assert 0 < await client.ttl(keys.session_tokens(session)) <= 3600
        assert 0 < await client.ttl(keys.user_tokens(user, 20_000)) <= 2 * 24 * 3600


async def _memory_forgets() -> None:
    """The memory engine drops a refilled bucket and a finished day as Redis would expire them."""
    now = [0.0]
    limits = MemoryTutorLimits(idle_ttl_s=100.0, clock=lambda: now[0])
    user = UserAsks(1)
    await limits.take(user, T0, 2.0, 3)
    await limits.take(SessionAsks("s"), T0, 0.0001, 3)
    await limits.charge(SessionTokens("s"), 10)
    await limits.charge(UserTokens(1, 20_000), 10)
    await limits.take(UserAsks(2), T0 + 3600.0, 2.0, 3)
    assert await limits.take(user, T0 + 3600.0, 2.0, 3) is True, "a forgotten bucket is full"
    now[0] = 101.0
    await limits.charge(UserTokens(1, 20_002), 1)
    assert await limits.spent(SessionTokens("s")) == 0
    assert await limits.spent(UserTokens(1, 20_000)) == 0
    assert await limits.spent(UserTokens(1, 20_002)) == 1
    assert len(limits._buckets) == 3  # the slow session bucket is still refilling
