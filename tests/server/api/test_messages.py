"""The persisted transcript: what members saw, in seq order, over REST."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from tests.server.api.conftest import Account, Api

# The transcript is written shortly after the room sees an event; allow for that.
TRANSCRIPT_WAIT_S = 5.0


async def wait_for_transcript(
    client: httpx.AsyncClient, who: Account, session_id: int, count: int
) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + TRANSCRIPT_WAIT_S
    while True:
        r = await client.get(f"/api/sessions/{session_id}/messages", headers=who.headers)
        assert r.status_code == 200, r.text
        events: list[dict[str, Any]] = r.json()
        if len(events) >= count or asyncio.get_running_loop().time() > deadline:
            return events
        await asyncio.sleep(0.05)


async def test_new_session_has_no_messages(api: Api) -> None:
    owner = await api.signup("owner")
    session = await api.session(owner, (await api.topic(owner))["id"])
    r = await api.client.get(f"/api/sessions/{session['id']}/messages", headers=owner.headers)
    assert r.status_code == 200
    assert r.json() == []


async def test_room_events_are_persisted_in_order(api: Api) -> None:
    owner = await api.signup("owner")
    guest = await api.signup("guest")
    first = await api.topic(owner, "First")
    second = await api.topic(owner, "Second", description="next")
    session = await api.session(owner, first["id"])
    await api.join(guest, session["join_code"])
    sid = session["id"]
    switched = await api.client.put(
        f"/api/sessions/{sid}/topic", json={"topic_id": second["id"]}, headers=owner.headers
    )
    assert switched.status_code == 200
    ended = await api.client.post(f"/api/sessions/{sid}/end", headers=owner.headers)
    assert ended.status_code == 200

    events = await wait_for_transcript(api.client, guest, sid, 2)
    assert [e["type"] for e in events] == ["topic.changed", "session.ended"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 2
    assert events[0]["topic"] == second
    assert all(isinstance(e["ts"], str) for e in events)

    # Paging: after_seq skips what the client has; limit bounds the page.
    r = await api.client.get(
        f"/api/sessions/{sid}/messages", params={"after_seq": seqs[0]}, headers=guest.headers
    )
    assert r.json() == events[1:]
    r = await api.client.get(
        f"/api/sessions/{sid}/messages", params={"limit": 1}, headers=guest.headers
    )
    assert r.json() == events[:1]


async def test_messages_access(api: Api) -> None:
    owner = await api.signup("owner")
    stranger = await api.signup("stranger")
    session = await api.session(owner, (await api.topic(owner))["id"])
    path = f"/api/sessions/{session['id']}/messages"
    assert (await api.client.get(path, headers=stranger.headers)).status_code == 403
    r = await api.client.get("/api/sessions/999999999/messages", headers=owner.headers)
    assert r.status_code == 404
    for params in ({"limit": 0}, {"after_seq": -1}, {"limit": "x"}):
        r = await api.client.get(path, params=params, headers=owner.headers)
        assert r.status_code == 422, params


async def test_page_size_is_capped(make_server: Any, api_on: Any) -> None:
    running = await make_server(page_max=1)
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10.0) as client:
        api = api_on(client)
        owner = await api.signup("owner")
        topic = await api.topic(owner)
        session = await api.session(owner, topic["id"])
        await client.put(
            f"/api/sessions/{session['id']}/topic",
            json={"topic_id": topic["id"]},
            headers=owner.headers,
        )
        await client.post(f"/api/sessions/{session['id']}/end", headers=owner.headers)
        # Wait until both are stored by paging past the first.
        deadline = asyncio.get_running_loop().time() + TRANSCRIPT_WAIT_S
        while asyncio.get_running_loop().time() < deadline:
            r = await client.get(
                f"/api/sessions/{session['id']}/messages",
                params={"after_seq": 1},
                headers=owner.headers,
            )
            if r.json():
                break
            await asyncio.sleep(0.05)
        r = await client.get(
            f"/api/sessions/{session['id']}/messages",
            params={"limit": 100},
            headers=owner.headers,
        )
    assert len(r.json()) == 1
