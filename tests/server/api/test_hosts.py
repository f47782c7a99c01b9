"""Hosts and members: who may change a session, lock it, rotate its code, promote others."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.server.api.conftest import Account, Api


async def _roles(api: Api, who: Account, session_id: int) -> dict[int, str]:
    r = await api.client.get(f"/api/sessions/{session_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    return {m["id"]: m["role"] for m in r.json()["members"]}


async def _room(api: Api) -> tuple[Account, Account, Any]:
    host, member = await api.signup("host"), await api.signup("member")
    session = await api.session(host, (await api.topic(host))["id"])
    await api.join(member, session["join_code"])
    return host, member, session


async def test_the_creator_hosts_and_only_hosts_change_the_session(api: Api) -> None:
    host, member, session = await _room(api)
    stranger = await api.signup("stranger")
    assert await _roles(api, member, session["id"]) == {host.id: "host", member.id: "member"}
    assert session["tutor_mode"] == "socratic" and session["locked"] is False
    path = f"/api/sessions/{session['id']}"
    for who, status in ((member, 403), (stranger, 403)):
        r = await api.client.patch(path, json={"title": "Mine now"}, headers=who.headers)
        assert r.status_code == status, r.text
    r = await api.client.patch(
        path, json={"title": "Evening group", "tutor_mode": "explain"}, headers=host.headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["title"], body["tutor_mode"], body["locked"]) == (
        "Evening group",
        "explain",
        False,
    )
    for bad in (
        {"tutor_mode": "lecture"},
        {"title": ""},
        {"owner_id": member.id},
        {"locked": "yes"},
    ):
        r = await api.client.patch(path, json=bad, headers=host.headers)
        assert r.status_code == 422, bad


async def test_a_locked_session_lets_members_back_and_nobody_new_in(api: Api) -> None:
    host, member, session = await _room(api)
    late = await api.signup("late")
    r = await api.client.patch(
        f"/api/sessions/{session['id']}", json={"locked": True}, headers=host.headers
    )
    assert r.status_code == 200 and r.json()["locked"] is True
    refused = await api.client.post(
        "/api/sessions/join", json={"join_code": session["join_code"]}, headers=late.headers
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert "locked" in refused.json()["detail"]
    await api.join(member, session["join_code"])  # already a member: fine
    await api.client.patch(
        f"/api/sessions/{session['id']}", json={"locked": False}, headers=host.headers
    )
    await api.join(late, session["join_code"])


async def test_a_host_rotates_a_leaked_join_code(api: Api) -> None:
    host, member, session = await _room(api)
    late = await api.signup("late")
    path = f"/api/sessions/{session['id']}/join-code"
    assert (await api.client.post(path, headers=member.headers)).status_code == 403
    r = await api.client.post(path, headers=host.headers)
    assert r.status_code == 200
    code = r.json()["join_code"]
    assert code != session["join_code"] and len(code) == 8
    old = await api.client.post(
        "/api/sessions/join", json={"join_code": session["join_code"]}, headers=late.headers
    )
    assert old.status_code == 404
    await api.join(late, code)
    assert member.id in await _roles(api, host, session["id"])


async def test_hosts_promote_and_demote_but_the_creator_stays_a_host(api: Api) -> None:
    host, member, session = await _room(api)
    other = await api.signup("other")
    await api.join(other, session["join_code"])
    base = f"/api/sessions/{session['id']}/members"
    r = await api.client.put(f"{base}/{other.id}", json={"role": "host"}, headers=member.headers)
    assert r.status_code == 403
    r = await api.client.put(f"{base}/{member.id}", json={"role": "host"}, headers=host.headers)
    assert r.status_code == 200 and r.json()["role"] == "host"
    # The new host may now do what hosts do.
    r = await api.client.patch(
        f"/api/sessions/{session['id']}", json={"title": "Co-hosted"}, headers=member.headers
    )
    assert r.status_code == 200
    r = await api.client.put(f"{base}/{host.id}", json={"role": "member"}, headers=member.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await api.client.put(f"{base}/999999", json={"role": "host"}, headers=host.headers)
    assert r.status_code == 404
    r = await api.client.put(f"{base}/{other.id}", json={"role": "owner"}, headers=host.headers)
    assert r.status_code == 422
    assert await _roles(api, other, session["id"]) == {
        host.id: "host",
        member.id: "host",
        other.id: "member",
    }
