"""Topics: creation, the caller's list, and who may see one."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.server.api.conftest import Api


async def test_create_topic(api: Api) -> None:
    owner = await api.signup("owner")
    r = await api.client.post(
        "/api/topics",
        json={"title": "  Group theory ", "description": "Sylow theorems"},
        headers=owner.headers,
    )
    assert r.status_code == 201
    topic = r.json()
    assert set(topic) == {"id", "title", "description", "owner_id", "created_at"}
    assert topic["title"] == "Group theory"
    assert topic["description"] == "Sylow theorems"
    assert topic["owner_id"] == owner.id
    assert datetime.fromisoformat(topic["created_at"]).tzinfo is not None


async def test_description_is_optional(api: Api) -> None:
    owner = await api.signup("owner")
    assert (await api.topic(owner, "Topology"))["description"] == ""
    assert (await api.topic(owner, "Measure", description=None))["description"] == ""


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"title": ""}, id="empty-title"),
        pytest.param({"title": "   "}, id="blank-title"),
        pytest.param({"title": "t" * 201}, id="long-title"),
        pytest.param({"title": "ok", "description": "d" * 5001}, id="long-description"),
        pytest.param({}, id="no-title"),
    ],
)
async def test_invalid_topic_is_422(api: Api, body: dict[str, object]) -> None:
    owner = await api.signup("owner")
    r = await api.client.post("/api/topics", json=body, headers=owner.headers)
    assert r.status_code == 422


async def test_list_is_own_topics_newest_first(api: Api) -> None:
    owner = await api.signup("owner")
    other = await api.signup("other")
    first = await api.topic(owner, "First")
    second = await api.topic(owner, "Second")
    await api.topic(other, "Not mine")
    r = await api.client.get("/api/topics", headers=owner.headers)
    assert r.status_code == 200
    assert [t["id"] for t in r.json()] == [second["id"], first["id"]]
    empty = await api.signup("empty")
    assert (await api.client.get("/api/topics", headers=empty.headers)).json() == []


async def test_read_own_topic(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner, "Calculus", description="limits")
    r = await api.client.get(f"/api/topics/{topic['id']}", headers=owner.headers)
    assert r.status_code == 200
    assert r.json() == topic


async def test_strangers_cannot_tell_a_topic_exists(api: Api) -> None:
    owner = await api.signup("owner")
    stranger = await api.signup("stranger")
    topic = await api.topic(owner)
    hidden = await api.client.get(f"/api/topics/{topic['id']}", headers=stranger.headers)
    missing = await api.client.get("/api/topics/999999999", headers=stranger.headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


async def test_session_members_see_its_topic(api: Api) -> None:
    owner = await api.signup("owner")
    member = await api.signup("member")
    topic = await api.topic(owner)
    session = await api.session(owner, topic["id"])
    await api.join(member, session["join_code"])
    r = await api.client.get(f"/api/topics/{topic['id']}", headers=member.headers)
    assert r.status_code == 200
    assert r.json() == topic
    # Seeing it is not owning it: it is not in the member's own list.
    mine = await api.client.get("/api/topics", headers=member.headers)
    assert mine.json() == []


async def test_current_topic(api: Api) -> None:
    owner = await api.signup("owner")
    none_yet = await api.client.get("/api/topics/current", headers=owner.headers)
    assert none_yet.status_code == 404
    first = await api.topic(owner, "First")
    second = await api.topic(owner, "Second")
    await api.session(owner, first["id"])
    current = await api.client.get("/api/topics/current", headers=owner.headers)
    assert current.status_code == 200
    assert current.json() == first
    # A newer session makes its topic the current one.
    await api.session(owner, second["id"])
    current = await api.client.get("/api/topics/current", headers=owner.headers)
    assert current.json() == second


async def test_non_integer_topic_id_is_422(api: Api) -> None:
    owner = await api.signup("owner")
    r = await api.client.get("/api/topics/abc", headers=owner.headers)
    assert r.status_code == 422
