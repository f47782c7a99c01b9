"""Sessions: create, join by code, the current session, details, topic switch, end."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.server.api.conftest import Account, Api

UNAMBIGUOUS = set("23456789ABCDEFGHJKLMNPQRSTUVWXYZ")


async def _detail(api: Api, who: Account, session_id: int) -> dict[str, object]:
    r = await api.client.get(f"/api/sessions/{session_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def test_create_session(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner, "Thermodynamics")
    r = await api.client.post(
        "/api/sessions", json={"topic_id": topic["id"]}, headers=owner.headers
    )
    assert r.status_code == 201
    session = r.json()
    assert {"id", "title", "topic_id", "status", "join_code", "owner_id", "created_at"} <= set(
        session
    )
    assert session["status"] == "active"
    assert session["title"] == "Thermodynamics"
    assert session["topic_id"] == topic["id"]
    assert session["owner_id"] == owner.id
    assert len(session["join_code"]) == 8 and set(session["join_code"]) <= UNAMBIGUOUS
    assert datetime.fromisoformat(session["created_at"]).tzinfo is not None
    detail = await _detail(api, owner, session["id"])
    assert [m["id"] for m in detail["members"]] == [owner.id]  # type: ignore[attr-defined]


async def test_session_title_and_unique_codes(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    named = await api.session(owner, topic["id"], title="Exam prep")
    other = await api.session(owner, topic["id"])
    assert named["title"] == "Exam prep"
    assert named["join_code"] != other["join_code"]


async def test_session_needs_a_visible_topic(api: Api) -> None:
    owner = await api.signup("owner")
    stranger = await api.signup("stranger")
    topic = await api.topic(owner)
    for topic_id in (topic["id"], 999999999):
        r = await api.client.post(
            "/api/sessions", json={"topic_id": topic_id}, headers=stranger.headers
        )
        assert r.status_code == 404
    # A member of a session on the topic may start another on it.
    session = await api.session(owner, topic["id"])
    await api.join(stranger, session["join_code"])
    r = await api.client.post(
        "/api/sessions", json={"topic_id": topic["id"]}, headers=stranger.headers
    )
    assert r.status_code == 201
    assert r.json()["owner_id"] == stranger.id


async def test_join(api: Api) -> None:
    owner = await api.signup("owner")
    guest = await api.signup("guest", display_name="Guest")
    session = await api.session(owner, (await api.topic(owner))["id"])
    code = session["join_code"]
    # Case and spaces do not matter: codes are read out and typed by hand.
    typed = f" {code[:4].lower()} {code[4:]} "
    joined = await api.join(guest, typed)
    assert joined == session
    again = await api.join(guest, code)
    assert again["id"] == session["id"]
    detail = await _detail(api, guest, session["id"])
    members = detail["members"]
    assert [m["id"] for m in members] == [owner.id, guest.id]  # type: ignore[attr-defined]
    assert members[1]["display_name"] == "Guest"  # type: ignore[index]
    assert members[1]["username"] == guest.username  # type: ignore[index]
    assert datetime.fromisoformat(members[1]["joined_at"]).tzinfo is not None  # type: ignore[index]


async def test_join_unknown_code_is_404(api: Api) -> None:
    guest = await api.signup("guest")
    r = await api.client.post(
        "/api/sessions/join", json={"join_code": "ZZZZ2222"}, headers=guest.headers
    )
    assert r.status_code == 404


async def test_join_ended_session_is_409(api: Api) -> None:
    owner = await api.signup("owner")
    guest = await api.signup("guest")
    session = await api.session(owner, (await api.topic(owner))["id"])
    ended = await api.client.post(f"/api/sessions/{session['id']}/end", headers=owner.headers)
    assert ended.status_code == 200
    r = await api.client.post(
        "/api/sessions/join", json={"join_code": session["join_code"]}, headers=guest.headers
    )
    assert r.status_code == 409


async def test_current_session(api: Api) -> None:
    owner = await api.signup("owner")
    guest = await api.signup("guest")
    assert (await api.client.get("/api/sessions/current", headers=guest.headers)).status_code == 404
    topic = await api.topic(owner)
    first = await api.session(owner, topic["id"])
    second = await api.session(owner, topic["id"])
    await api.join(guest, first["join_code"])
    current = await api.client.get("/api/sessions/current", headers=guest.headers)
    assert current.status_code == 200
    assert current.json()["id"] == first["id"]
    await api.join(guest, second["join_code"])
    current = await api.client.get("/api/sessions/current", headers=guest.headers)
    assert current.json()["id"] == second["id"]
    # Fetching connection details is activity too.
    r = await api.client.post(
        "/api/connection-details", json={"session_id": first["id"]}, headers=guest.headers
    )
    assert r.status_code == 200
    current = await api.client.get("/api/sessions/current", headers=guest.headers)
    assert current.json()["id"] == first["id"]
    # An ended session is never current; the next most recent one is.
    await api.client.post(f"/api/sessions/{first['id']}/end", headers=owner.headers)
    current = await api.client.get("/api/sessions/current", headers=guest.headers)
    assert current.json()["id"] == second["id"]
    await api.client.post(f"/api/sessions/{second['id']}/end", headers=owner.headers)
    current = await api.client.get("/api/sessions/current", headers=guest.headers)
    assert current.status_code == 404


async def test_read_session(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner, "Optics", description="lenses")
    session = await api.session(owner, topic["id"])
    detail = await _detail(api, owner, session["id"])
    assert {k: detail[k] for k in session} == session
    assert detail["topic"] == topic
    member = detail["members"][0]  # type: ignore[index]
    assert set(member) == {"id", "username", "display_name", "joined_at", "role"}


async def test_read_session_access(api: Api) -> None:
    owner = await api.signup("owner")
    stranger = await api.signup("stranger")
    session = await api.session(owner, (await api.topic(owner))["id"])
    r = await api.client.get(f"/api/sessions/{session['id']}", headers=stranger.headers)
    assert r.status_code == 403
    r = await api.client.get("/api/sessions/999999999", headers=stranger.headers)
    assert r.status_code == 404


async def test_switch_topic(api: Api) -> None:
    owner = await api.signup("owner")
    guest = await api.signup("guest")
    first = await api.topic(owner, "First")
    session = await api.session(owner, first["id"])
    await api.join(guest, session["join_code"])
    # Any member may switch, to a topic they can see (here: their own).
    theirs = await api.topic(guest, "Guest's topic")
    r = await api.client.put(
        f"/api/sessions/{session['id']}/topic",
        json={"topic_id": theirs["id"]},
        headers=guest.headers,
    )
    assert r.status_code == 200
    assert r.json()["topic_id"] == theirs["id"]
    assert r.json()["id"] == session["id"]
    detail = await _detail(api, owner, session["id"])
    assert detail["topic"] == theirs
    # The other members now study it, so they can see it.
    seen = await api.client.get(f"/api/topics/{theirs['id']}", headers=owner.headers)
    assert seen.status_code == 200


async def test_switch_topic_refusals(api: Api) -> None:
    owner = await api.signup("owner")
    stranger = await api.signup("stranger")
    topic = await api.topic(owner)
    hidden = await api.topic(stranger, "Private")
    session = await api.session(owner, topic["id"])
    path = f"/api/sessions/{session['id']}/topic"
    r = await api.client.put(path, json={"topic_id": topic["id"]}, headers=stranger.headers)
    assert r.status_code == 403
    r = await api.client.put(path, json={"topic_id": hidden["id"]}, headers=owner.headers)
    assert r.status_code == 404
    r = await api.client.put(
        "/api/sessions/999999999/topic", json={"topic_id": topic["id"]}, headers=owner.headers
    )
    assert r.status_code == 404
    await api.client.post(f"/api/sessions/{session['id']}/end", headers=owner.headers)
    r = await api.client.put(path, json={"topic_id": topic["id"]}, headers=owner.headers)
    assert r.status_code == 409


async def test_end_session(api: Api) -> None:
    owner = await api.signup("owner")
    guest = await api.signup("guest")
    session = await api.session(owner, (await api.topic(owner))["id"])
    await api.join(guest, session["join_code"])
    path = f"/api/sessions/{session['id']}/end"
    assert (await api.client.post(path, headers=guest.headers)).status_code == 403
    r = await api.client.post(path, headers=owner.headers)
    assert r.status_code == 200
    ended = r.json()
    assert ended["status"] == "ended"
    assert datetime.fromisoformat(ended["ended_at"]).tzinfo is not None
    again = await api.client.post(path, headers=owner.headers)
    assert again.status_code == 200
    assert again.json() == ended
    detail = await _detail(api, guest, session["id"])
    assert detail["status"] == "ended"
    r = await api.client.post("/api/sessions/999999999/end", headers=owner.headers)
    assert r.status_code == 404


async def test_concurrent_joins_make_one_membership(api: Api) -> None:
    owner = await api.signup("owner")
    guest = await api.signup("guest")
    session = await api.session(owner, (await api.topic(owner))["id"])
    joins = await asyncio.gather(*(api.join(guest, session["join_code"]) for _ in range(5)))
    assert {j["id"] for j in joins} == {session["id"]}
    detail = await _detail(api, owner, session["id"])
    assert [m["id"] for m in detail["members"]] == [owner.id, guest.id]  # type: ignore[attr-defined]


async def test_list_sessions_newest_first_with_filters_and_pages(api: Api) -> None:
    ada, bob = await api.signup("ada"), await api.signup("bob")
    algebra, geometry = await api.topic(ada, "Algebra"), await api.topic(ada, "Geometry")
    made = [await api.session(ada, t["id"]) for t in (algebra, geometry, algebra)]
    await api.join(bob, made[1]["join_code"])
    ended = await api.client.post(f"/api/sessions/{made[0]['id']}/end", headers=ada.headers)
    assert ended.status_code == 200

    async def ids(who: Account, **params: object) -> list[int]:
        r = await api.client.get("/api/sessions", params=params, headers=who.headers)
        assert r.status_code == 200, r.text
        return [s["id"] for s in r.json()]

    newest_first = [s["id"] for s in reversed(made)]
    assert await ids(ada) == newest_first
    assert await ids(bob) == [made[1]["id"]]  # only one's own sessions
    assert await ids(ada, status="ended") == [made[0]["id"]]
    assert await ids(ada, status="active") == newest_first[:2]
    assert await ids(ada, topic_id=algebra["id"]) == [made[2]["id"], made[0]["id"]]
    first = await ids(ada, limit=2)
    assert first == newest_first[:2]
    assert await ids(ada, limit=2, before_id=first[-1]) == newest_first[2:]
    for bad in ({"status": "paused"}, {"limit": 0}, {"before_id": -1}, {"topic_id": "x"}):
        r = await api.client.get("/api/sessions", params=bad, headers=ada.headers)
        assert (r.status_code, r.json()["code"]) == (422, "validation_failed"), bad
    assert (await api.client.get("/api/sessions")).status_code == 401
