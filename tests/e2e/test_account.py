"""The account: a new name or password, logging out everywhere at once, taking one's data."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.people import PASSWORD
from tests.support.waiting import eventually


async def _token(base_url: str, username: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url) as http:
        return await http.post("/api/auth/token", data={"username": username, "password": password})


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_change_name_and_password(kit: Any) -> None:
    ada = await kit.person("ada")
    r = await kit.http.patch("/api/users/me", json={"display_name": "Ada L."}, headers=ada.auth)
    assert r.status_code == 200 and r.json()["display_name"] == "Ada L."
    wrong = await kit.http.patch(
        "/api/users/me",
        json={"password": "a new long password", "current_password": "not it"},
        headers=ada.auth,
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "forbidden")
    missing = await kit.http.patch(
        "/api/users/me", json={"password": "a new long password"}, headers=ada.auth
    )
    assert missing.status_code == 403
    same = await kit.http.patch("/api/users/me", json={}, headers=ada.auth)
    assert same.status_code == 200 and same.json()["display_name"] == "Ada L."
    for bad in (
        {"password": "short", "current_password": PASSWORD},
        {"display_name": ""},
        {"username": "someone"},
    ):
        r = await kit.http.patch("/api/users/me", json=bad, headers=ada.auth)
        assert r.status_code == 422, bad
    current = PASSWORD
    r = await kit.http.patch(
        "/api/users/me",
        json={"password": "a new long password", "current_password": current},
        headers=ada.auth,
    )
    assert r.status_code == 200, r.text
    assert (await _token(kit.base_url, ada.username, current)).status_code == 401
    assert (await _token(kit.base_url, ada.username, "a new long password")).status_code == 200


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_logout_stops_that_token_on_every_process(make_server: Any, make_kit: Any) -> None:
    first, second = await make_server(), await make_server()
    kit = make_kit(first.base_url)
    ada = await kit.person("ada")
    other = (await _token(first.base_url, ada.username, PASSWORD)).json()["access_token"]
    async with httpx.AsyncClient(base_url=second.base_url) as there:
        assert (await there.get("/api/users/me", headers=ada.auth)).status_code == 200
        assert (await kit.http.post("/api/auth/logout", headers=ada.auth)).status_code == 204
        for http in (kit.http, there):
            refused = await http.get("/api/users/me", headers=ada.auth)
            assert (refused.status_code, refused.json()["code"]) == (401, "unauthenticated")
            assert "logged out" in refused.json()["detail"]
            # The same user's other token (another device) still works.
            assert (await http.get("/api/users/me", headers=_auth(other))).status_code == 200
        again = await there.post("/api/auth/logout", headers=ada.auth)
        assert again.status_code == 401


async def test_export_holds_what_the_user_stored_and_said(kit: Any) -> None:
    ada, bob = await kit.person("ada"), await kit.person("bob")
    topic = await kit.topic(ada, "Cells")
    await kit.http.post(
        f"/api/topics/{topic}/materials",
        files={"file": ("cells.md", b"# Cells\n\nATP.\n", "text/markdown")},
        headers=ada.auth,
    )
    goal = await kit.http.post(
        "/api/goals",
        json={"topic_id": topic, "title": "Know ATP", "metric": "questions_asked", "target": 2},
        headers=ada.auth,
    )
    assert goal.status_code == 201
    session = await kit.session(ada, bob, topic=topic)
    a, b = await kit.connect(ada, session), await kit.connect(bob, session)
    await a.send({"type": "chat", "text": "mine to take"})
    await b.send({"type": "chat", "text": "bob's, not ada's"})
    await a.until(lambda f: f.get("text") == "bob's, not ada's")
    await eventually(
        lambda: kit.messages(ada, session["id"]),
        lambda rows: sum(r["type"] == "chat" for r in rows) == 2,
        15.0,
    )
    r = await kit.http.get("/api/users/me/export", headers=ada.auth)
    assert r.status_code == 200
    data = r.json()
    assert data["format"] == "studyroom-export/1"
    assert data["user"]["username"] == ada.username and "password_hash" not in data["user"]
    (mine,) = data["topics"]
    assert mine["title"] == "Cells" and mine["materials"][0]["filename"] == "cells.md"
    download = await kit.http.get(mine["materials"][0]["content_url"], headers=ada.auth)
    assert download.content == b"# Cells\n\nATP.\n"
    assert [s["id"] for s in data["sessions"]] == [session["id"]]
    texts = [m.get("text") for m in data["messages"] if m["type"] == "chat"]
    assert texts == ["mine to take"]
    assert [g["title"] for g in data["goals"]] == ["Know ATP"]
    assert (await kit.http.get("/api/users/me/export")).status_code == 401
