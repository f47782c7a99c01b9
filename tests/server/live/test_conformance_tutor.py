"""The tutor's shared state (``TutorState`` in ``server/live/ports.py``), on every engine.

``peer`` is a second process sharing the backend (Redis); with the memory engine it is the
same process.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

Harness = Any  # tests/server/live/conftest.py, reached through the ``engine`` fixture

# Each harness has its own key prefix; within one it is enough that ids differ.
_SESSION_IDS = itertools.count(1)


def new_session() -> int:
    return next(_SESSION_IDS)


async def test_only_a_users_first_answer_to_a_quiz_is_claimed(engine: Harness) -> None:
    tutor = (await engine.open()).tutor
    session = new_session()
    assert await tutor.claim_answer(session, "q1", 7, 2) is True
    assert await tutor.claim_answer(session, "q1", 7, 2) is False
    assert await tutor.claim_answer(session, "q1", 7, 0) is False
    assert await tutor.claim_answer(session, "q1", 8, 0) is True, "another learner"
    assert await tutor.claim_answer(session, "q2", 7, 1) is True, "another quiz"
    assert await tutor.claim_answer(new_session(), "q1", 7, 1) is True, "another session"


async def test_concurrent_answers_from_processes_claim_once(engine: Harness) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session = new_session()
    claimed = await asyncio.gather(
        *(s.tutor.claim_answer(session, "q1", 7, i % 3) for s in (state, peer) for i in range(8))
    )
    assert sum(claimed) == 1


async def test_quiz_keys_and_cards_are_seen_by_every_process(engine: Harness) -> None:
    state = await engine.open()
    peer = await engine.peer(state)
    session = new_session()
    assert await peer.tutor.get_quiz(session, "q1") is None
    assert await peer.tutor.get_card(session, "7:1:light") is None
    await state.tutor.put_quiz(session, "q1", '{"answer": 1}')
    await state.tutor.put_card(session, "7:1:light", '{"stability": 1.0}')
    await state.tutor.put_card(session, "7:1:light", '{"stability": 2.5}')
    assert await peer.tutor.get_quiz(session, "q1") == '{"answer": 1}'
    assert await peer.tutor.get_card(session, "7:1:light") == '{"stability": 2.5}'
    assert await peer.tutor.get_card(new_session(), "7:1:light") is None


async def test_a_lost_session_forgets_its_answers_and_cards(engine: Harness) -> None:
    state = await engine.open()
    session = new_session()
    await state.tutor.claim_answer(session, "q1", 7, 1)
    await state.tutor.put_card(session, "c", "{}")
    state = await engine.lose_log(state, session)
    assert await state.tutor.claim_answer(session, "q1", 7, 1) is True
    assert await state.tutor.get_card(session, "c") is None
