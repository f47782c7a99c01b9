"""Study goals over REST: create, list, change, delete; validation; other people's goals."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import RoomKit

METRICS = ("study_minutes", "questions_asked", "quiz_accuracy", "concepts_mastered")


async def test_goal_lifecycle(study: RoomKit) -> None:
    me = await study.person()
    topic = await study.topic(me)
    other_topic = await study.topic(me, "Genetics")
    created = await study.http.post(
        "/api/goals",
        json={
            "topic_id": topic,
            "title": "  Ask more  ",
            "metric": "questions_asked",
            "target": 5,
            "due_date": "2031-06-30",
        },
        headers=me.auth,
    )
    assert created.status_code == 201, created.text
    goal = created.json()
    assert goal["topic_id"] == topic and goal["title"] == "Ask more"
    assert goal["metric"] == "questions_asked" and goal["target"] == 5
    assert goal["due_date"] == "2031-06-30" and goal["progress"] == 0
    assert isinstance(goal["id"], int)
    # Every metric can be a goal; the due date is optional.
    others = [await study.goal(me, other_topic, metric, 0.5) for metric in METRICS]
    assert all(g["due_date"] is None and g["progress"] == 0 for g in others)

    listed = (await study.http.get("/api/goals", headers=me.auth)).json()
    assert [g["id"] for g in listed] == [goal["id"], *[g["id"] for g in others]]
    on_topic = await study.http.get("/api/goals", params={"topic_id": topic}, headers=me.auth)
    assert [g["id"] for g in on_topic.json()] == [goal["id"]]

    patched = await study.http.patch(
        f"/api/goals/{goal['id']}", json={"title": "Ask a lot", "target": 8}, headers=me.auth
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "Ask a lot" and patched.json()["target"] == 8
    assert patched.json()["due_date"] == "2031-06-30", "fields left out stay as they are"
    cleared = await study.http.patch(
        f"/api/goals/{goal['id']}", json={"due_date": None}, headers=me.auth
    )
    assert cleared.status_code == 200 and cleared.json()["due_date"] is None
    assert cleared.json()["title"] == "Ask a lot"
    assert (await study.read_goal(me, goal["id"]))["target"] == 8

    deleted = await study.http.delete(f"/api/goals/{goal['id']}", headers=me.auth)
    assert deleted.status_code == 204 and deleted.content == b""
    for method in ("GET", "PATCH", "DELETE"):
        again = await study.http.request(
            method, f"/api/goals/{goal['id']}", json={"title": "x"}, headers=me.auth
        )
        assert again.status_code == 404, (method, again.text)
    remaining = (await study.http.get("/api/goals", headers=me.auth)).json()
    assert goal["id"] not in [g["id"] for g in remaining]


@pytest.mark.parametrize(
    "change",
    [
        {"metric": "minutes_slept"},
        {"target": 0},
        {"target": -3},
        {"target": "lots"},
        {"title": ""},
        {"title": None},
        {"title": "nul\u0000"},
        {"topic_id": None},
        {"metric": "quiz_accuracy", "target": 1.5},
        {"due_date": "someday"},
    ],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()),
)
async def test_invalid_goals_are_refused(study: RoomKit, change: dict[str, Any]) -> None:
    me = await study.person()
    topic = await study.topic(me)
    body = {"topic_id": topic, "title": "Goal", "metric": "questions_asked", "target": 3}
    r = await study.http.post("/api/goals", json={**body, **change}, headers=me.auth)
    assert r.status_code == 422, r.text
    assert (await study.http.get("/api/goals", headers=me.auth)).json() == []


async def test_invalid_changes_are_refused(study: RoomKit) -> None:
    me = await study.person()
    topic = await study.topic(me)
    accuracy = await study.goal(me, topic, "quiz_accuracy", 0.9)
    url = f"/api/goals/{accuracy['id']}"
    for change in (
        {"target": 0},
        {"target": None},
        {"target": 1.01},  # accuracy is a fraction
        {"title": None},
        {"title": " "},
        {"metric": "questions_asked"},  # the metric is fixed
        {"topic_id": topic},
    ):
        r = await study.http.patch(url, json=change, headers=me.auth)
        assert r.status_code == 422, (change, r.text)
    assert (await study.read_goal(me, accuracy["id"]))["target"] == 0.9
    assert (await study.http.patch(url, json={"target": 1}, headers=me.auth)).status_code == 200


async def test_goals_need_a_visible_topic_and_a_token(study: RoomKit) -> None:
    me, stranger = await study.person(), await study.person("stranger")
    theirs = await study.topic(stranger)
    body = {"topic_id": theirs, "title": "Theirs", "metric": "questions_asked", "target": 1}
    r = await study.http.post("/api/goals", json=body, headers=me.auth)
    assert r.status_code == 404, r.text
    r = await study.http.post("/api/goals", json={**body, "topic_id": 987654321}, headers=me.auth)
    assert r.status_code == 404
    # A member of a session on someone else's topic can set goals on it.
    session = await study.session(stranger, me, topic=theirs)
    assert session["topic_id"] == theirs
    assert (await study.http.post("/api/goals", json=body, headers=me.auth)).status_code == 201
    assert (await study.http.get("/api/goals")).status_code == 401
    assert (await study.http.post("/api/goals", json=body)).status_code == 401


async def test_other_peoples_goals_answer_like_missing_ones(study: RoomKit) -> None:
    owner, other = await study.person("owner"), await study.person("other")
    topic = await study.topic(owner)
    await study.session(owner, other, topic=topic)
    goal = await study.goal(owner, topic, "study_minutes", 30)
    url = f"/api/goals/{goal['id']}"
    assert (await study.http.get(url, headers=other.auth)).status_code == 404
    assert (
        await study.http.patch(url, json={"title": "Mine now"}, headers=other.auth)
    ).status_code == 404
    assert (await study.http.delete(url, headers=other.auth)).status_code == 404
    assert (await study.http.get("/api/goals", headers=other.auth)).json() == []
    # Untouched.
    assert (await study.read_goal(owner, goal["id"]))["title"] == "study_minutes goal"
