"""A topic renamed or deleted by its owner, and a material downloaded again, byte for byte."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.server.materials.conftest import Api, Stored

NOTES = b"# Cells\n\nMitochondria make ATP. \xc3\xa9t\xc3\xa9\n"


async def test_the_owner_renames_a_topic_others_cannot(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner, "Cells")
    member = await api.member_of(owner, topic)
    stranger = await api.signup("stranger")
    path = f"/api/topics/{topic}"
    r = await api.client.patch(path, json={"title": "Cell biology"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "Cell biology" and r.json()["description"] == ""
    r = await api.client.patch(path, json={"description": "Organelles"}, headers=owner.headers)
    assert (r.json()["title"], r.json()["description"]) == ("Cell biology", "Organelles")
    # A member studies it but may not change it; a stranger learns nothing of it.
    r = await api.client.patch(path, json={"title": "Mine"}, headers=member.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await api.client.patch(path, json={"title": "Mine"}, headers=stranger.headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    for bad in ({"title": ""}, {"title": "x" * 201}, {"owner_id": stranger.id}):
        r = await api.client.patch(path, json=bad, headers=owner.headers)
        assert r.status_code == 422, bad
    r = await api.client.get(path, headers=member.headers)
    assert r.json()["title"] == "Cell biology"


async def test_deleting_a_topic_takes_its_materials_but_keeps_shared_files(
    api: Api, stored: Stored
) -> None:
    owner = await api.signup("owner")
    doomed, kept = await api.topic(owner, "Doomed"), await api.topic(owner, "Kept")
    member = await api.member_of(owner, doomed)
    uploaded = await api.upload(owner, doomed, NOTES, "cells.md")
    other = await api.upload(owner, doomed, b"only here\n", "only.txt")
    shared = await api.upload(owner, kept, NOTES, "cells.md")
    assert {uploaded.status_code, other.status_code, shared.status_code} == {201}
    only_sha = other.json()["sha256"]
    goal = await api.client.post(
        "/api/goals",
        json={"topic_id": doomed, "title": "Learn", "metric": "questions_asked", "target": 3},
        headers=owner.headers,
    )
    assert goal.status_code == 201, goal.text

    r = await api.client.delete(f"/api/topics/{doomed}", headers=member.headers)
    assert r.status_code == 403
    r = await api.client.delete(f"/api/topics/{doomed}", headers=owner.headers)
    assert r.status_code == 204
    assert (await api.client.get(f"/api/topics/{doomed}", headers=owner.headers)).status_code == 404
    for material in (uploaded.json(), other.json()):
        gone = await api.client.get(f"/api/materials/{material['id']}", headers=owner.headers)
        assert gone.status_code == 404
    goals = await api.client.get("/api/goals", headers=owner.headers)
    assert [g for g in goals.json() if g["topic_id"] == doomed] == []
    # The file the other topic also has stays; the one only this topic had is gone.
    assert stored.blob(shared.json()["sha256"]).is_file()
    assert not stored.blob(only_sha).exists()
    download = await api.client.get(
        f"/api/materials/{shared.json()['id']}/content", headers=owner.headers
    )
    assert download.content == NOTES
    # The session stays, its transcript readable, with no topic.
    sessions = await api.client.get("/api/sessions", headers=member.headers)
    (session,) = sessions.json()
    assert session["topic_id"] is None
    messages = await api.client.get(
        f"/api/sessions/{session['id']}/messages", headers=member.headers
    )
    assert messages.status_code == 200
    again = await api.client.delete(f"/api/topics/{doomed}", headers=owner.headers)
    assert again.status_code == 404


async def test_a_material_downloads_byte_for_byte_to_those_who_may_see_it(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    member = await api.member_of(owner, topic)
    stranger = await api.signup("stranger")
    r = await api.upload(owner, topic, NOTES, "Zellbiologie é.md")
    assert r.status_code == 201, r.text
    material: dict[str, Any] = r.json()
    path = f"/api/materials/{material['id']}/content"
    for who in (owner, member):
        got = await api.client.get(path, headers=who.headers)
        assert got.status_code == 200
        assert (
            got.content == NOTES and hashlib.sha256(got.content).hexdigest() == material["sha256"]
        )
        assert got.headers["content-type"].startswith(material["content_type"])
        disposition = got.headers["content-disposition"]
        assert disposition.startswith("attachment;") and "filename*=utf-8''" in disposition
    assert (await api.client.get(path, headers=stranger.headers)).status_code == 404
    assert (await api.client.get(path)).status_code == 401
    assert (
        await api.client.get("/api/materials/999999999/content", headers=owner.headers)
    ).status_code == 404
