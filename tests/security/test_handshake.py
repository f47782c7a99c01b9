"""Room handshakes with forged or stale credentials get no room data.

``tests/e2e/test_rooms.py`` covers no token, garbage, expired, ``alg: none``, no ``exp``, a
foreign key, an access token, another session's token and a foreign Origin. Here: tokens that
were valid and then altered, an algorithm the server does not use, malformed claims under a
valid signature, and a token that outlived its holder's membership. Each attempt must end
before the first frame, and the members already in the room must not see the intruder.
"""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import Conn, Person, RoomKit


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def with_payload(token: str, **changes: Any) -> str:
    """``token`` with its claims changed and its original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(_unb64(payload)) | changes
    return ".".join([header, _b64(json.dumps(claims).encode()), signature])


def with_flipped_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(_unb64(signature))
    raw[len(raw) // 2] ^= 0x01
    return ".".join([header, payload, _b64(bytes(raw))])


async def refused_without_data(kit: RoomKit, session_id: int, token: str) -> int:
    """Open the socket with ``token``; the close code, after asserting no frame came."""
    return await kit.refusal(session_id, token)


async def saw_nobody_else(conn: Conn, *intruders: Person) -> None:
    """After a round trip on ``conn``, no presence of ``intruders`` reached it."""
    await conn.send({"type": "ping"})
    await conn.until(lambda f: f.get("type") == "pong")
    ids = {p.id for p in intruders}
    assert not [e for e in conn.events if e.get("user", {}).get("id") in ids]


@pytest.mark.parametrize(
    "case", ["tampered_payload", "tampered_signature", "hs512_with_our_key", "session_as_string"]
)
async def test_altered_tokens_are_refused(kit: RoomKit, server: Any, case: str) -> None:
    alice, mallory = await kit.person("alice"), await kit.person("mallory")
    session = await kit.session(alice)
    inside = await kit.connect(alice, session)
    own = (await kit.details(mallory, await kit.session(mallory)))["participant_token"]
    alices = (await kit.details(alice, session))["participant_token"]
    key = server.settings.secret_key
    claims = jwt.decode(alices, options={"verify_signature": False})
    forge = {
        # Mallory's genuine token, pointed at Alice's session.
        "tampered_payload": lambda: with_payload(own, sid=session["id"]),
        # Alice's genuine token for her own session, one bit off in the signature.
        "tampered_signature": lambda: with_flipped_signature(alices),
        # Correctly signed, but with an algorithm the server never issues.
        "hs512_with_our_key": lambda: jwt.encode(claims, key, "HS512"),
        "session_as_string": lambda: jwt.encode(
            {**claims, "sid": str(session["id"])}, key, "HS256"
        ),
    }[case]
    with warnings.catch_warnings():
        # The test key is long enough for HS256, which is all the server uses, not for HS512.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        token = forge()
    assert await refused_without_data(kit, session["id"], token) == 4401
    await saw_nobody_else(inside, mallory)
    # The unaltered token still works: the refusal was about the alteration.
    again = await kit.connect(alice, session, token=alices)
    assert again.welcome["user"]["id"] == alice.id


async def test_token_of_a_former_member_is_refused(
    make_server: Any, make_kit: Callable[[str], RoomKit]
) -> None:
    # Removing a member through the API writes the removal through to the session's gate at
    # once (tests/server/rooms/test_admission.py). Here the row goes behind the server's back,
    # so only the gate's TTL bounds how long the token still works: one second.
    server = await make_server(room_gate_ttl_s=1)
    kit = make_kit(server.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    inside = await kit.connect(alice, session)
    kept = (await kit.details(bob, session))["participant_token"]
    engine = create_async_engine(server.settings.database_url)
    try:
        async with engine.begin() as db:
            removed = await db.execute(
                text("DELETE FROM memberships WHERE session_id = :s AND user_id = :u"),
                {"s": session["id"], "u": bob.id},
            )
            assert removed.rowcount == 1
    finally:
        await engine.dispose()
    await asyncio.sleep(1.5)  # the gate alice's join filled has expired
    # The token is unexpired and correctly signed, and still gets nothing.
    assert await refused_without_data(kit, session["id"], kept) == 4403
    await saw_nobody_else(inside, bob)
    asked = await kit.http.post(
        "/api/connection-details", json={"session_id": session["id"]}, headers=bob.auth
    )
    assert asked.status_code == 403
