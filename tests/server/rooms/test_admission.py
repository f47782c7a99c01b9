"""Room admission on the cached path: a join reads the session's gate in live state, not the
database, and every change (the session ended, a member removed, the topic) takes effect on the
very next join, on any process. On the embedded engine both "processes" are one server; on
Redis they are two servers sharing live state and the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from protocol.errors import CloseCode
from server.live.factory import build_live_state
from tests.support import Person, RoomKit
from tests.support.conn import Conn
from tests.support.waiting import eventually


@dataclass
class Rig:
    """Alice's session with bob in it, and a kit on each of two "processes"."""

    here: RoomKit
    there: RoomKit
    alice: Person
    bob: Person
    session: dict[str, Any]


async def rig(make_server: Any, backend: Any, make_kit: Callable[[str], RoomKit]) -> Rig:
    first = await make_server()
    second = await make_server() if backend.name == "services" else first
    here, there = make_kit(first.base_url), make_kit(second.base_url)
    alice, bob = await here.person("alice"), await here.person("bob")
    return Rig(here, there, alice, bob, await here.session(alice, bob))


async def test_an_ended_session_refuses_the_next_join_with_the_gate_cached(
    make_server: Any, backend: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    r = await rig(make_server, backend, make_kit)
    here, there, alice, bob, session = r.here, r.there, r.alice, r.bob, r.session
    token = (await there.details(bob, session))["participant_token"]
    conn = await there.connect(bob, session, token=token)  # fills the gate
    await conn.ws.close()

    ended = await here.http.post(f"/api/sessions/{session['id']}/end", headers=alice.auth)
    assert ended.status_code == 200, ended.text

    # The token is still valid; the gate says the session is over.
    assert await there.refusal(session["id"], token) == CloseCode.SESSION_ENDED


async def test_a_removed_member_is_refused_at_once_with_the_gate_cached(
    make_server: Any, backend: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    if backend.name != "services":
        pytest.skip("another process's write needs shared live state")
    server = await make_server()
    kit = make_kit(server.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    token = (await kit.details(bob, session))["participant_token"]
    await (await kit.connect(bob, session, token=token)).ws.close()
    await (await kit.connect(alice, session)).ws.close()

    # Another process removes bob, as the members API does after its commit.
    other = await build_live_state(server.settings, seed=_no_history, consumer="other")
    try:
        await other.gates.remove_member(session["id"], bob.id)
    finally:
        await other.log.close()

    assert await kit.refusal(session["id"], token) == CloseCode.FORBIDDEN
    alice_again = await kit.connect(alice, session)
    assert alice_again.welcome["session_id"] == session["id"], "only bob is refused"


async def _no_history(session_id: int) -> int:
    return 0


async def test_a_join_sees_the_topic_switched_since_the_gate_was_filled(
    make_server: Any, backend: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    r = await rig(make_server, backend, make_kit)
    here, there, alice, bob, session = r.here, r.there, r.alice, r.bob, r.session
    before = await there.connect(bob, session)
    assert before.welcome["topic"]["title"] == "Photosynthesis"
    await before.ws.close()

    algebra = await here.topic(alice, "Algebra")
    switched = await here.http.put(
        f"/api/sessions/{session['id']}/topic", json={"topic_id": algebra}, headers=alice.auth
    )
    assert switched.status_code == 200, switched.text

    after: Conn = await there.connect(bob, session)
    assert after.welcome["topic"]["id"] == algebra
    assert after.welcome["topic"]["title"] == "Algebra"
    fresh = await here.topic(alice, "Fresh")  # what a gate filled from the database shows
    topics = (await here.http.get(f"/api/topics/{fresh}", headers=alice.auth)).json()
    assert set(after.welcome["topic"]) == set(topics)


async def test_a_room_join_makes_the_session_current_within_a_flush(
    make_server: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    server = await make_server(activity_flush_s=0.2)
    kit = make_kit(server.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    older = await kit.session(alice, bob)
    newer = await kit.session(alice, bob)

    async def current() -> int:
        answer = await kit.http.get("/api/sessions/current", headers=bob.auth)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["id"])

    assert await current() == newer["id"]
    await kit.connect(bob, older)
    assert await eventually(current, lambda sid: sid == older["id"]) == older["id"]
