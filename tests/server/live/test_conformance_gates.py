"""Session gates (``SessionGates`` in ``server/live/ports.py``), on every engine.

``peer`` is a second process sharing the backend (Redis); with the memory engine it is the
same process.
"""

from __future__ import annotations

import itertools
from typing import Any

from server.live.ports import Gate, GateCheck
from tests.support.waiting import eventually

Harness = Any  # tests/server/live/conftest.py, reached through the ``engine`` fixture

_SESSION_IDS = itertools.count(1)
TOPIC = '{"id": 7, "title": "Cells"}'


def new_session() -> int:
    return next(_SESSION_IDS)


async def test_a_gate_is_a_miss_until_filled_then_seen_by_every_process(engine: Harness) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session = new_session()

    assert await state.gates.check(session, 1) is None
    await state.gates.fill(session, Gate(ended=False, topic=TOPIC))

    expected = GateCheck(Gate(ended=False, topic=TOPIC), removed=False)
    assert await state.gates.check(session, 1) == expected
    assert await peer.gates.check(session, 2) == expected
    assert await state.gates.check(new_session(), 1) is None, "gates are per session"


async def test_one_fact_written_through_is_not_a_gate_and_a_fill_keeps_it(
    engine: Harness,
) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    ended, switched = new_session(), new_session()

    await peer.gates.end(ended)
    await peer.gates.set_topic(switched, TOPIC)
    assert await state.gates.check(ended, 1) is None, "the topic is unknown: read the database"
    assert await state.gates.check(switched, 1) is None

    # A fill that read the database before the change was committed arrives late.
    await state.gates.fill(ended, Gate(ended=False, topic="null"))
    await state.gates.fill(switched, Gate(ended=False, topic="null"))
    assert await state.gates.check(ended, 1) == GateCheck(Gate(True, "null"), removed=False)
    assert await state.gates.check(switched, 1) == GateCheck(Gate(False, TOPIC), removed=False)


async def test_changes_written_through_replace_what_was_filled(engine: Harness) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session = new_session()
    await state.gates.fill(session, Gate(ended=False, topic="null"))

    await peer.gates.set_topic(session, TOPIC)
    assert await state.gates.check(session, 1) == GateCheck(Gate(False, TOPIC), removed=False)
    await peer.gates.end(session)
    assert await state.gates.check(session, 1) == GateCheck(Gate(True, TOPIC), removed=False)
    await state.gates.fill(session, Gate(ended=False, topic="null"))
    assert await state.gates.check(session, 1) == GateCheck(Gate(True, TOPIC), removed=False)


async def test_a_removed_member_is_refused_until_restored(engine: Harness) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session = new_session()
    await state.gates.fill(session, Gate(ended=False, topic="null"))

    await peer.gates.remove_member(session, 5)
    check = await state.gates.check(session, 5)
    assert check is not None and check.removed
    other = await state.gates.check(session, 6)
    assert other is not None and not other.removed, "only that member"

    await peer.gates.restore_member(session, 5)
    check = await state.gates.check(session, 5)
    assert check is not None and not check.removed
    await state.gates.restore_member(session, 5)  # restoring a member is harmless


async def test_a_gate_expires_one_ttl_after_its_first_fact_however_often_written(
    engine: Harness,
) -> None:
    state = await engine.open(gate_ttl_s=1)
    session = new_session()
    await state.gates.fill(session, Gate(ended=False, topic="null"))
    # Writes keep coming; none of them extends the gate's life.
    await state.gates.set_topic(session, TOPIC)
    await state.gates.fill(session, Gate(ended=False, topic="null"))

    async def probe() -> GateCheck | None:
        await state.gates.remove_member(session, 9)
        return await state.gates.check(session, 1)

    await eventually(probe, lambda check: check is None, timeout=10.0)
