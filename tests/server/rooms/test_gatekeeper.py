"""The gatekeeper's database path: members joining a session whose gate is not cached share
one read of it, and the gate it fills serves every later join without the database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from protocol.errors import CloseCode
from server.auth.tokens import issue_participant_token
from server.db.engine import create_engine, session_factory
from server.live.memory_gates import MemorySessionGates
from server.rooms.access import Refused
from server.rooms.activity import ActivityRecorder
from server.rooms.gatekeeper import Gatekeeper
from tests.support import RoomKit


async def test_members_joining_a_cold_session_share_one_database_read(
    make_server: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    server = await make_server()
    kit = make_kit(server.base_url)
    owner = await kit.person("owner")
    people = [await kit.person(f"m{i}") for i in range(5)]
    session = await kit.session(owner, *people)
    stranger = await kit.person("stranger")

    engine = create_engine(server.settings.database_url)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    db = session_factory(engine)
    gatekeeper = Gatekeeper(
        server.settings, db, MemorySessionGates(ttl_s=60), ActivityRecorder(db, flush_s=60)
    )

    def token(person: Any) -> str:
        signed, _ = issue_participant_token(
            server.settings, user_id=person.id, session_id=session["id"], name=person.name
        )
        return signed

    try:
        joining = [owner, *people, stranger]
        answers = await asyncio.gather(
            *(gatekeeper.admit(session["id"], token(p)) for p in joining), return_exceptions=True
        )
        reads = len(statements)
        *admitted, refused = answers
        # The stranger's token is genuine (the server signs only for members; this one was
        # signed here): on the database path the member list still refuses it.
        assert isinstance(refused, Refused) and refused.code == CloseCode.FORBIDDEN
        # One more read for the stranger: the shared one may have begun before a join.
        reads -= 1
        assert [a.user.id for a in admitted] == [p.id for p in [owner, *people]]
        assert all(a.topic is not None and a.topic["title"] == "Photosynthesis" for a in admitted)
        assert reads == 3, statements  # the session, its topic, its members: once for all

        again = await gatekeeper.admit(session["id"], token(people[0]))
        assert again.topic == admitted[0].topic
        assert len(statements) == reads + 1, "a cached gate needs no database"
    finally:
        await engine.dispose()
