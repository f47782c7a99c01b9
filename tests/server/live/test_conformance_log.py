"""The room log's guarantees (``server/live/ports.py``), checked on the memory and the Redis engine.

``peer`` is a second process sharing the backend (Redis); with the memory engine it is the
same process, so cross-process tests still run, on one process.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import pytest

from protocol.events import encode_with_seq, peek_seq, peek_type
from server.live.ports import LoggedEvent, OutboxItem

Harness = Any  # tests/server/live/conftest.py, reached through the ``engine`` fixture
Collector = Any

# Each harness has its own key prefix; within one it is enough that ids differ.
_SESSION_IDS = itertools.count(1)


def new_session() -> int:
    return next(_SESSION_IDS)


def chat(n: int) -> str:
    """An encoded event body without seq, as protocol.events.encode_event makes them."""
    return f'{{"type":"chat","ts":"2024-01-01T00:00:00.000Z","n":{n},"text":"héllo ✓ {n}"}}'


def contents(items: list[OutboxItem]) -> list[tuple[str, int, str]]:
    return [(item.session_id, item.seq, item.data) for item in items]


# -- order --------------------------------------------------------------------------------


async def test_numbers_continue_after_the_seed_without_gaps_under_concurrency(
    engine: Harness,
) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session = new_session()
    engine.seeds[session] = 41
    bodies = [chat(n) for n in range(200)]
    logs = [state.log, peer.log]

    events = await asyncio.gather(
        *(logs[n % 2].append(session, body, persist=False) for n, body in enumerate(bodies))
    )

    assert sorted(event.seq for event in events) == list(range(42, 242))
    for body, event in zip(bodies, events, strict=True):
        assert event.data == encode_with_seq(event.seq, body)
    held = await state.log.read(session, 41)
    assert held == sorted(events, key=lambda event: event.seq)
    assert await peer.log.read(session, 41) == held


@pytest.mark.parametrize("seed", [0, 8, 98, 999_999_999_998])
async def test_every_copy_of_an_event_is_protocols_splice_of_its_body(
    engine: Harness, collector: type[Collector], seed: int
) -> None:
    # The Redis engine splices seq in Lua (log_append.lua), which cannot import protocol.events:
    # what it returns, stores, publishes and queues for the transcript must be the same string.
    state = await engine.open()
    session = new_session()
    engine.seeds[session] = seed
    seen = collector()
    await state.log.subscribe(session, seen)
    bodies = [
        chat(1),
        '{"type":"chat","ts":"t","text":"quote \\" brace } comma , ✓ \\u2028 é"}',
        '{"type":"agent.delta","turn_id":"t1","text":""}',
    ]

    events = [await state.log.append(session, body, persist=True) for body in bodies]

    spliced = [encode_with_seq(seed + n, body) for n, body in enumerate(bodies, start=1)]
    assert [event.data for event in events] == spliced
    assert [(peek_seq(e.data), peek_type(e.data)) for e in events] == [
        (seed + 1, "chat"),
        (seed + 2, "chat"),
        (seed + 3, "agent.delta"),
    ]
    assert [event.data for event in await state.log.read(session, seed)] == spliced
    await seen.wait_for(len(bodies))
    assert [event.data for event in seen.events] == spliced
    queued = [item for item in await state.outbox.take(100, 1.0) if item.session_id == session]
    assert [item.data for item in queued] == spliced


async def test_read_returns_held_events_after_seq_in_order_up_to_limit(engine: Harness) -> None:
    state = await engine.open()
    session = new_session()
    events = [await state.log.append(session, chat(n), persist=False) for n in range(10)]

    assert await state.log.read(session, 0) == events
    assert await state.log.read(session, 5) == events[5:]
    assert await state.log.read(session, 5, limit=2) == events[5:7]
    assert await state.log.read(session, 3, limit=0) == []
    assert await state.log.read(session, 10) == []
    assert await state.log.read(new_session(), 0) == []


async def test_append_rejects_a_body_that_is_not_an_encoded_object(engine: Harness) -> None:
    state = await engine.open()
    with pytest.raises(ValueError):
        await state.log.append(new_session(), "[1, 2]", persist=False)


# -- retention ----------------------------------------------------------------------------


async def test_retention_keeps_the_newest_events_and_window_says_which(engine: Harness) -> None:
    state = await engine.open(retention=10)
    session = new_session()
    for n in range(25):
        await state.log.append(session, chat(n), persist=False)

    window = await state.log.window(session)
    held = await state.log.read(session, 0)

    assert window.head == 25
    assert window.first_seq <= 25 - 10 + 1
    assert [event.seq for event in held] == list(range(window.first_seq, 26))


# -- epochs -------------------------------------------------------------------------------


async def test_window_of_a_new_session_is_an_empty_log_at_the_seed(engine: Harness) -> None:
    state = await engine.open()
    session = new_session()
    engine.seeds[session] = 7

    window = await state.log.window(session)

    assert (window.first_seq, window.head) == (8, 7)
    assert window.epoch
    assert await state.log.window(session) == window
    event = await state.log.append(session, chat(1), persist=False)
    assert event.seq == 8
    assert await state.log.window(session) == type(window)(window.epoch, 8, 8)


async def test_processes_creating_a_log_together_agree_on_one_epoch(engine: Harness) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session = new_session()
    engine.seeds[session] = 3

    windows = await asyncio.gather(
        state.log.window(session),
        peer.log.window(session),
        state.log.window(session),
        peer.log.window(session),
    )
    events = await asyncio.gather(
        state.log.append(session, chat(1), persist=False),
        peer.log.append(session, chat(2), persist=False),
    )

    assert len({window.epoch for window in windows}) == 1
    assert sorted(event.seq for event in events) == [4, 5]
    assert (await peer.log.window(session)).epoch == windows[0].epoch


async def test_a_lost_log_returns_with_a_new_epoch_seeded_from_the_transcript(
    engine: Harness,
) -> None:
    state = await engine.open()
    appended, looked_at = new_session(), new_session()
    before = {}
    for session in (appended, looked_at):
        for n in range(5):
            await state.log.append(session, chat(n), persist=False)
        before[session] = await state.log.window(session)
        engine.seeds[session] = 3  # the transcript stored events 1..3 before the loss
        state = await engine.lose_log(state, session)

    # Either call recreates the log.
    event = await state.log.append(appended, chat(9), persist=False)
    window = await state.log.window(appended)
    assert event.seq == 4
    assert window.epoch != before[appended].epoch
    assert (window.first_seq, window.head) == (4, 4)

    window = await state.log.window(looked_at)
    assert window.epoch != before[looked_at].epoch
    assert (window.first_seq, window.head) == (4, 3)
    assert await state.log.read(looked_at, 0) == []
    assert (await state.log.append(looked_at, chat(9), persist=False)).seq == 4


# -- fan-out ------------------------------------------------------------------------------


async def test_subscribers_everywhere_see_events_in_seq_order(
    engine: Harness, collector: type[Collector]
) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session = new_session()
    here, there = collector(), collector()
    await state.log.subscribe(session, here)
    await peer.log.subscribe(session, there)
    logs = [state.log, peer.log]

    await asyncio.gather(*(logs[n % 2].append(session, chat(n), persist=False) for n in range(50)))
    await here.wait_for(50)
    await there.wait_for(50)

    held = await state.log.read(session, 0)
    assert here.events == held
    assert there.events == held


async def test_an_append_after_subscribe_returns_is_delivered(
    engine: Harness, collector: type[Collector]
) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    for n in range(20):
        session = new_session()
        seen = collector()
        subscription = await peer.log.subscribe(session, seen)
        event = await state.log.append(session, chat(n), persist=False)
        await seen.wait_for(1)
        assert seen.events == [event]
        await subscription.close()


async def test_a_closed_subscription_gets_nothing_more(
    engine: Harness, collector: type[Collector]
) -> None:
    state = await engine.open()
    session, other = new_session(), new_session()
    first, second, marker = collector(), collector(), collector()
    subscription = await state.log.subscribe(session, first)
    remaining = await state.log.subscribe(session, second)
    await state.log.subscribe(other, marker)

    await subscription.close()
    await state.log.append(session, chat(1), persist=False)
    await second.wait_for(1)
    assert first.events == []

    await remaining.close()
    await state.log.append(session, chat(2), persist=False)
    # The marker's event is published after, on the same connection: once it is here, the
    # closed subscriptions would have had theirs.
    await state.log.append(other, chat(3), persist=False)
    await marker.wait_for(1)
    assert first.seqs == []
    assert second.seqs == [1]

    again = collector()
    await state.log.subscribe(session, again)
    event = await state.log.append(session, chat(4), persist=False)
    await again.wait_for(1)
    assert again.events == [event]


async def test_signals_reach_subscribers_unnumbered_and_are_not_logged(
    engine: Harness, collector: type[Collector]
) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session = new_session()
    here, there = collector(), collector()
    await state.log.subscribe(session, here)
    await peer.log.subscribe(session, there)
    before = await state.log.window(session)
    frame = '{"type":"typing","user":{"id":1,"name":"ada"}}'

    await state.log.signal(session, frame)
    event = await state.log.append(session, chat(1), persist=False)
    await here.wait_for(2)
    await there.wait_for(2)

    assert here.events == [LoggedEvent(0, frame), event]
    assert there.events == [LoggedEvent(0, frame), event]
    assert await state.log.read(session, 0) == [event]
    assert (await state.log.window(session)).head == before.head + 1


async def test_a_raising_listener_is_logged_and_changes_nothing_else(
    engine: Harness, collector: type[Collector], caplog: pytest.LogCaptureFixture
) -> None:
    state = await engine.open()
    session = new_session()
    seen = collector()
    frame = '{"type":"typing","user":{"id":1,"name":"ada"}}'

    def broken(event: LoggedEvent) -> None:
        raise RuntimeError("listener bug")

    # Subscribed first, so it is called before the healthy listener.
    await state.log.subscribe(session, broken)
    await state.log.subscribe(session, seen)
    with caplog.at_level(logging.ERROR):
        event = await state.log.append(session, chat(1), persist=True)
        await state.log.signal(session, frame)
        await seen.wait_for(2)

    assert seen.events == [event, LoggedEvent(0, frame)]
    assert await state.log.read(session, 0) == [event]
    assert contents(await state.outbox.take(10, 1.0)) == [(session, event.seq, event.data)]
    failures = [
        record
        for record in caplog.records
        if record.exc_info and isinstance(record.exc_info[1], RuntimeError)
    ]
    assert len(failures) == 2


async def test_ping_answers(engine: Harness) -> None:
    state = await engine.open()
    await state.log.ping()
