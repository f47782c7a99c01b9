"""A topic's materials change: the live rooms of its sessions hear of it at once."""

from __future__ import annotations

from typing import Any

NOTES = b"# Cells\n\nMitochondria make ATP.\n"


async def test_members_hear_of_added_and_removed_materials(kit: Any) -> None:
    ada, bob = await kit.person("ada"), await kit.person("bob")
    topic = await kit.topic(ada, "Cells")
    session = await kit.session(ada, bob, topic=topic)
    elsewhere = await kit.session(ada, bob)  # another topic
    a, b = await kit.connect(ada, session), await kit.connect(bob, session)
    other = await kit.connect(bob, elsewhere)

    uploaded = await kit.http.post(
        f"/api/topics/{topic}/materials",
        files={"file": ("cells.md", NOTES, "text/markdown")},
        headers=ada.auth,
    )
    assert uploaded.status_code == 201, uploaded.text
    material = uploaded.json()
    for conn in (a, b):
        added = await conn.until(lambda f: f.get("type") == "material.added")
        assert added["material"] == material and added["seq"] > 0

    # The same bytes again change nothing, and say nothing.
    again = await kit.http.post(
        f"/api/topics/{topic}/materials",
        files={"file": ("copy.md", NOTES, "text/markdown")},
        headers=ada.auth,
    )
    assert again.status_code == 200

    gone = await kit.http.delete(f"/api/materials/{material['id']}", headers=ada.auth)
    assert gone.status_code == 204
    removed = await b.until(lambda f: f.get("type") == "material.removed")
    assert removed["material_id"] == material["id"]
    assert [f["type"] for f in b.events if f.get("type", "").startswith("material.")] == [
        "material.added",
        "material.removed",
    ]
    # The session on another topic heard nothing.
    await other.send({"type": "ping"})
    await other.until(lambda f: f.get("type") == "pong")
    assert not [f for f in other.events if f.get("type", "").startswith("material.")]


async def test_rooms_hear_of_their_topic_renamed_and_deleted(kit: Any) -> None:
    ada, bob = await kit.person("ada"), await kit.person("bob")
    topic = await kit.topic(ada, "Cells")
    session = await kit.session(ada, bob, topic=topic)
    b = await kit.connect(bob, session)
    r = await kit.http.patch(
        f"/api/topics/{topic}", json={"title": "Cell biology"}, headers=ada.auth
    )
    assert r.status_code == 200, r.text
    renamed = await b.until(lambda f: f.get("type") == "topic.changed")
    assert renamed["topic"]["title"] == "Cell biology"
    # A join from now on is welcomed with the new name: the session's gate was written through.
    late = await kit.connect(ada, session)
    assert late.welcome["topic"]["title"] == "Cell biology"
    assert (await kit.http.delete(f"/api/topics/{topic}", headers=ada.auth)).status_code == 204
    cleared = await b.until(lambda f: f.get("type") == "topic.changed" and f["topic"] is None)
    assert cleared["seq"] > renamed["seq"]
    again = await kit.connect(bob, session)
    assert again.welcome.get("topic") is None
