"""Deleting an account: the password is asked again, the user's data goes, what other people
were part of stays (their sessions, the words said to them, shown as a deleted user), and every
token of the account stops at once, on every process."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from server.auth.passwords import DUMMY_PASSWORD
from tests.support.people import PASSWORD
from tests.support.waiting import eventually

NOTES = b"# Cells\n\nMitochondria make ATP.\n"


async def _login(base_url: str, username: str, password: str) -> int:
    async with httpx.AsyncClient(base_url=base_url) as http:
        form = {"username": username, "password": password}
        return (await http.post("/api/auth/token", data=form)).status_code


async def _upload(kit: Any, owner: Any, topic: int) -> int:
    r = await kit.http.post(
        f"/api/topics/{topic}/materials",
        files={"file": ("cells.md", NOTES, "text/markdown")},
        headers=owner.auth,
    )
    assert r.status_code == 201, r.text
    material: int = r.json()["id"]
    return material


async def test_deleting_an_account(kit: Any) -> None:
    ada, bob = await kit.person("ada"), await kit.person("bob")
    # Ada's own topic and session, which Bob joined; and Bob's session, where Ada speaks.
    adas_topic = await kit.topic(ada, "Ada's cells")
    adas_session = await kit.session(ada, bob, topic=adas_topic)
    bobs_topic = await kit.topic(bob, "Bob's cells")
    bobs_session = await kit.session(bob, ada, topic=bobs_topic)
    # The same bytes in both topics: one stored file, which must outlive Ada's copy.
    await _upload(kit, ada, adas_topic)
    bobs_material = await _upload(kit, bob, bobs_topic)
    goal = await kit.http.post(
        "/api/goals",
        json={"topic_id": bobs_topic, "title": "Ask", "metric": "questions_asked", "target": 3},
        headers=ada.auth,
    )
    assert goal.status_code == 201
    details = await kit.details(ada, bobs_session)
    b = await kit.connect(bob, bobs_session)
    a = await kit.connect(ada, bobs_session)
    await a.send({"type": "chat", "text": "mitochondria?"})
    await b.until(lambda f: f.get("text") == "mitochondria?")
    await eventually(
        lambda: kit.messages(bob, bobs_session["id"]),
        lambda rows: any(r.get("text") == "mitochondria?" for r in rows),
        15.0,
    )

    wrong = await kit.http.request(
        "DELETE", "/api/users/me", json={"password": "not it at all"}, headers=ada.auth
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "forbidden")
    missing = await kit.http.request("DELETE", "/api/users/me", json={}, headers=ada.auth)
    assert missing.status_code == 422
    assert (await kit.http.get("/api/users/me", headers=ada.auth)).status_code == 200

    gone = await kit.http.request(
        "DELETE", "/api/users/me", json={"password": PASSWORD}, headers=ada.auth
    )
    assert gone.status_code == 204, gone.text

    # Her socket closes as a removed member's does, and the room hears of a deleted user.
    removed = await b.until(lambda f: f.get("type") == "member.removed")
    assert removed["user"] == {"id": ada.id, "name": "deleted user"}
    assert await a.closed_with() == 4403
    # Every credential she had is refused: the access token, the password, the room token.
    me = await kit.http.get("/api/users/me", headers=ada.auth)
    assert (me.status_code, me.json()["code"]) == (401, "unauthenticated")
    assert await _login(kit.base_url, ada.username, PASSWORD) == 401
    assert await kit.refusal(bobs_session["id"], details["participant_token"]) == 4403
    # Her words stay in Bob's session, under no name.
    said = [r for r in await kit.messages(bob, bobs_session["id"]) if r.get("user")]
    hers = [r for r in said if r["user"]["id"] == ada.id]
    assert hers and {r["user"]["name"] for r in hers} == {"deleted user"}
    assert "mitochondria?" in [r.get("text") for r in hers]
    members = (await kit.http.get(f"/api/sessions/{bobs_session['id']}", headers=bob.auth)).json()
    assert [m["id"] for m in members["members"]] == [bob.id]
    # Her session goes on with Bob as its host and owner, without her (deleted) topic.
    inherited = (await kit.http.get(f"/api/sessions/{adas_session['id']}", headers=bob.auth)).json()
    assert inherited["owner_id"] == bob.id and inherited["topic_id"] is None
    assert [(m["id"], m["role"]) for m in inherited["members"]] == [(bob.id, "host")]
    ended = await kit.http.post(f"/api/sessions/{adas_session['id']}/end", headers=bob.auth)
    assert ended.status_code == 200
    # Bob's copy of the shared file is whole.
    download = await kit.http.get(f"/api/materials/{bobs_material}/content", headers=bob.auth)
    assert download.content == NOTES
    # The name is free again, for an account that inherits nothing.
    again = await kit.http.post("/api/users", json={"username": ada.username, "password": PASSWORD})
    assert again.status_code == 201 and again.json()["id"] != ada.id
    async with httpx.AsyncClient(base_url=kit.base_url) as http:
        token = await http.post(
            "/api/auth/token", data={"username": ada.username, "password": PASSWORD}
        )
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        export = (await http.get("/api/users/me/export", headers=auth)).json()
        assert export["messages"] == [] and export["goals"] == [] and export["sessions"] == []
        assert (await http.get("/api/goals", headers=auth)).json() == []


async def test_a_session_nobody_else_is_in_goes_with_its_creator(kit: Any) -> None:
    ada, bob = await kit.person("ada"), await kit.person("bob")
    alone = await kit.session(ada)
    a = await kit.connect(ada, alone)
    await a.send({"type": "chat", "text": "only me here"})
    r = await kit.http.request(
        "DELETE", "/api/users/me", json={"password": PASSWORD}, headers=ada.auth
    )
    assert r.status_code == 204
    assert await a.closed_with() == 4403
    # Its code would have let Bob in; the session is gone.
    join = await kit.http.post(
        "/api/sessions/join", json={"join_code": alone["join_code"]}, headers=bob.auth
    )
    assert join.status_code == 404


async def test_a_deleted_account_cannot_be_logged_into(kit: Any) -> None:
    ada = await kit.person("ada")
    r = await kit.http.request(
        "DELETE", "/api/users/me", json={"password": PASSWORD}, headers=ada.auth
    )
    assert r.status_code == 204
    # Not under the tombstone's name, with no password or the one a missing user is checked
    # against (an emptied hash must not fall back to it).
    for password in ("", DUMMY_PASSWORD, PASSWORD):
        assert await _login(kit.base_url, f"deleted:{ada.id}", password) in (401, 422)
    again = await kit.http.request(
        "DELETE", "/api/users/me", json={"password": PASSWORD}, headers=ada.auth
    )
    assert again.status_code == 401


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_a_deleted_accounts_token_is_refused_on_every_process(
    make_server: Any, make_kit: Any
) -> None:
    first, second = await make_server(), await make_server()
    kit = make_kit(first.base_url)
    ada = await kit.person("ada")
    async with httpx.AsyncClient(base_url=second.base_url) as there:
        assert (await there.get("/api/users/me", headers=ada.auth)).status_code == 200
        r = await kit.http.request(
            "DELETE", "/api/users/me", json={"password": PASSWORD}, headers=ada.auth
        )
        assert r.status_code == 204
        assert (await there.get("/api/users/me", headers=ada.auth)).status_code == 401
