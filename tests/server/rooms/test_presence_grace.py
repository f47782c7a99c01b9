"""Presence over reconnects: a member back within ``presence_grace_s`` (a reload, a blip, a
reconnect to another process) makes no leave/join pair; one who stays away leaves once the
grace is over, announced even when nobody else is in the room."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support import RoomKit
from tests.support.conn import Frame
from tests.support.waiting import eventually


def presence_of(user_id: int) -> Callable[[Frame], bool]:
    return lambda f: f.get("type") == "presence" and f["user"]["id"] == user_id


async def test_a_reconnect_within_the_grace_makes_no_leave_or_join(
    make_server: Any, backend: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    first = await make_server(presence_grace_s=30.0)
    # On Redis bob comes back through another process, as after a deploy.
    second = await make_server(presence_grace_s=30.0) if backend.name == "services" else first
    here, there = make_kit(first.base_url), make_kit(second.base_url)
    alice, bob = await here.person("alice"), await here.person("bob")
    session = await here.session(alice, bob)
    a = await here.connect(alice, session)
    b = await here.connect(bob, session)
    await a.until(presence_of(bob.id))
    await b.ws.close()

    back = await there.connect(bob, session, last_seq=b.welcome["seq"], epoch=b.welcome["epoch"])
    assert [m["id"] for m in back.welcome["members"]] == sorted([alice.id, bob.id])
    await back.send({"type": "chat", "text": "back"})
    await a.until(lambda f: f.get("type") == "chat" and f["text"] == "back")

    assert [f["event"] for f in a.events if presence_of(bob.id)(f)] == ["join"]


async def test_a_member_who_stays_away_leaves_after_the_grace_even_alone(
    make_server: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    server = await make_server(presence_grace_s=0.3)
    kit = make_kit(server.base_url)
    alice = await kit.person("alice")
    session = await kit.session(alice)
    conn = await kit.connect(alice, session)
    await conn.ws.close()

    async def presence() -> list[str]:
        rows = await kit.messages(alice, session["id"])
        return [row["event"] for row in rows if row["type"] == "presence"]

    assert await eventually(presence, lambda events: events == ["join", "leave"]) == [
        "join",
        "leave",
    ]
