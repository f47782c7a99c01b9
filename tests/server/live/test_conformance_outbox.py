"""The transcript outbox's guarantees (``server/live/ports.py``), on both engines.

``peer`` is a second process sharing the backend (Redis); with the memory engine it is the
same process, so cross-process tests still run, on one process.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from server.live.ports import OutboxItem

Harness = Any  # tests/server/live/conftest.py, reached through the ``engine`` fixture

# Each harness has its own key prefix; within one it is enough that ids differ.
_SESSION_IDS = itertools.count(1)


def new_session() -> int:
    return next(_SESSION_IDS)


def chat(n: int) -> str:
    """An encoded event body without seq, as protocol.events.encode_event makes them."""
    return f'{{"type":"chat","ts":"2024-01-01T00:00:00.000Z","n":{n},"text":"héllo ✓ {n}"}}'


def contents(items: list[OutboxItem]) -> list[tuple[str, int, str]]:
    return [(item.session_id, item.seq, item.data) for item in items]


async def test_outbox_hands_out_persisted_events_only(engine: Harness) -> None:
    state = await engine.open()
    session = new_session()
    kept = await state.log.append(session, chat(1), persist=True)
    await state.log.append(session, chat(2), persist=False)
    also_kept = await state.log.append(session, chat(3), persist=True)

    items = await state.outbox.take(10, 1.0)

    assert contents(items) == [
        (session, kept.seq, kept.data),
        (session, also_kept.seq, also_kept.data),
    ]
    assert await state.outbox.take(10, 0.05) == []


async def test_take_returns_as_soon_as_an_event_arrives(engine: Harness) -> None:
    state = await engine.open()
    session = new_session()
    taking = asyncio.create_task(state.outbox.take(10, 10.0))
    await asyncio.sleep(0.05)

    event = await state.log.append(session, chat(1), persist=True)

    items = await asyncio.wait_for(taking, 1.5)
    assert contents(items) == [(session, event.seq, event.data)]


async def test_taken_items_are_not_handed_out_again_until_released(engine: Harness) -> None:
    state = await engine.open()
    session = new_session()
    for n in range(5):
        await state.log.append(session, chat(n), persist=True)

    first = await state.outbox.take(2, 1.0)
    rest = await state.outbox.take(10, 1.0)
    assert [item.seq for item in first + rest] == [1, 2, 3, 4, 5]
    assert await state.outbox.take(10, 0.05) == []

    await state.outbox.release(first)
    again = await state.outbox.take(10, 1.0)
    assert contents(again) == contents(first)


async def test_released_items_come_back_first_and_without_waiting(engine: Harness) -> None:
    state = await engine.open()
    session = new_session()
    for n in range(3):
        await state.log.append(session, chat(n), persist=True)
    first = await state.outbox.take(1, 1.0)
    await state.outbox.release(first)

    again = await asyncio.wait_for(state.outbox.take(2, 10.0), 1.5)
    assert [item.seq for item in again] == [1, 2]
    await state.outbox.release(again)

    # Nothing new arrives: a take that waited for new events would not return in time.
    everything = await asyncio.wait_for(state.outbox.take(10, 10.0), 1.5)
    assert [item.seq for item in everything] == [1, 2, 3]
    assert contents(everything[:2]) == contents(again)


async def test_a_release_ends_the_wait_of_a_pending_take(engine: Harness) -> None:
    state = await engine.open()
    session = new_session()
    await state.log.append(session, chat(1), persist=True)
    taken = await state.outbox.take(10, 1.0)
    waiting = asyncio.create_task(state.outbox.take(10, 10.0))
    await asyncio.sleep(0.1)
    assert not waiting.done()

    await state.outbox.release(taken)

    again = await asyncio.wait_for(waiting, 1.5)
    assert contents(again) == contents(taken)
    await state.outbox.ack(again)
    assert await state.outbox.take(10, 0.05) == []


async def test_acknowledged_items_never_come_back(engine: Harness) -> None:
    state = await engine.open(claim_idle_s=0.2)
    peer = await engine.peer(state)
    session = new_session()
    for n in range(3):
        await state.log.append(session, chat(n), persist=True)

    items = await state.outbox.take(10, 1.0)
    assert len(items) == 3
    await state.outbox.ack(items)
    await asyncio.sleep(0.3)  # past claim_idle_s: nothing is left to claim either

    assert await state.outbox.take(10, 0.05) == []
    assert await peer.outbox.take(10, 0.05) == []


async def test_items_taken_by_a_dead_process_go_to_another(engine: Harness) -> None:
    if not engine.shared:
        pytest.skip("one process: its outbox dies with it")
    doomed = await engine.open(consumer="doomed", claim_idle_s=0.2)
    survivor = await engine.open(consumer="survivor", claim_idle_s=0.2)
    session = new_session()
    for n in range(3):
        await doomed.log.append(session, chat(n), persist=True)
    taken = await doomed.outbox.take(10, 1.0)
    assert len(taken) == 3
    await engine.kill(doomed)

    await asyncio.sleep(0.3)  # past claim_idle_s
    claimed = await survivor.outbox.take(10, 1.0)

    assert contents(claimed) == contents(taken)
    await survivor.outbox.ack(claimed)
    late = await engine.open(consumer="late", claim_idle_s=0.2)
    await asyncio.sleep(0.3)
    assert await late.outbox.take(10, 0.05) == []
