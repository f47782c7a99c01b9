"""Removing a member and leaving: sockets closed with 4403 everywhere, tokens refused, rejoins
refused after a removal and allowed after a leave."""

from __future__ import annotations

from typing import Any


async def test_a_host_removes_a_member_who_cannot_come_back(kit: Any) -> None:
    host, bob, carol = await kit.person("host"), await kit.person("bob"), await kit.person("carol")
    session = await kit.session(host, bob, carol)
    details = await kit.details(bob, session)
    h, b = await kit.connect(host, session), await kit.connect(bob, session)
    path = f"/api/sessions/{session['id']}/members"
    # A member may not remove another; nobody removes the creator.
    assert (await kit.http.delete(f"{path}/{bob.id}", headers=carol.auth)).status_code == 403
    assert (await kit.http.delete(f"{path}/{host.id}", headers=host.auth)).status_code == 403
    assert (await kit.http.delete(f"{path}/{bob.id}", headers=host.auth)).status_code == 204

    for conn in (h, b):
        removed = await conn.until(lambda f: f.get("type") == "member.removed")
        assert removed["user"]["id"] == bob.id
    assert await b.closed_with() == 4403
    # At once, with no grace: the room hears Bob leave.
    left = await h.until(lambda f: f.get("type") == "presence" and f["event"] == "leave")
    assert left["user"]["id"] == bob.id
    # The participant token he still holds is refused, and so are a new one and a rejoin.
    assert await kit.refusal(session["id"], details["participant_token"]) == 4403
    again = await kit.http.post(
        "/api/connection-details", json={"session_id": session["id"]}, headers=bob.auth
    )
    assert again.status_code == 403
    rejoin = await kit.http.post(
        "/api/sessions/join", json={"join_code": session["join_code"]}, headers=bob.auth
    )
    assert (rejoin.status_code, rejoin.json()["code"]) == (403, "forbidden")
    members = (await kit.http.get(f"/api/sessions/{session['id']}", headers=host.auth)).json()
    assert bob.id not in [m["id"] for m in members["members"]]
    assert (await kit.http.delete(f"{path}/{bob.id}", headers=host.auth)).status_code == 404


async def test_a_member_who_leaves_may_rejoin(kit: Any) -> None:
    host, carol = await kit.person("host"), await kit.person("carol")
    session = await kit.session(host, carol)
    c = await kit.connect(carol, session)
    r = await kit.http.delete(
        f"/api/sessions/{session['id']}/members/{carol.id}", headers=carol.auth
    )
    assert r.status_code == 204
    assert await c.closed_with() == 4403
    listed = await kit.http.get("/api/sessions", headers=carol.auth)
    assert listed.json() == []
    rejoin = await kit.http.post(
        "/api/sessions/join", json={"join_code": session["join_code"]}, headers=carol.auth
    )
    assert rejoin.status_code == 200
    back = await kit.connect(carol, session)
    assert back.welcome["type"] == "welcome"


async def test_the_room_hears_a_new_host_and_a_new_join_code(kit: Any) -> None:
    host, bob = await kit.person("host"), await kit.person("bob")
    session = await kit.session(host, bob)
    h, b = await kit.connect(host, session), await kit.connect(bob, session)
    role_path = f"/api/sessions/{session['id']}/members/{bob.id}"

    r = await kit.http.put(role_path, json={"role": "host"}, headers=host.auth)
    assert r.status_code == 200
    for conn in (h, b):
        promoted = await conn.until(lambda f: f.get("type") == "member.role")
        assert (promoted["user"]["id"], promoted["role"]) == (bob.id, "host")

    # Bob, a host now, rotates the code; everyone in the room is told the new one.
    rotated = await kit.http.post(f"/api/sessions/{session['id']}/join-code", headers=bob.auth)
    assert rotated.status_code == 200
    code = rotated.json()["join_code"]
    assert code != session["join_code"]
    for conn in (h, b):
        updated = await conn.until(lambda f: f.get("type") == "session.updated")
        assert updated["session"]["join_code"] == code

    r = await kit.http.put(role_path, json={"role": "member"}, headers=host.auth)
    assert r.status_code == 200
    demoted = await b.until(lambda f: f.get("type") == "member.role")
    assert demoted["role"] == "member"
    refused = await kit.http.post(f"/api/sessions/{session['id']}/join-code", headers=bob.auth)
    assert refused.status_code == 403
