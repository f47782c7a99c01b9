"""GET /api/sessions/{id}/report over real HTTP, on history with known values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests.server.reports.conftest import Frames as F

if TYPE_CHECKING:
    from tests.server.api.conftest import Api
    from tests.server.reports.conftest import Seeder

T0 = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def _room(api: Api, *guests: str) -> tuple[Any, list[Any]]:
    owner = await api.signup("owner")
    session = await api.session(owner, (await api.topic(owner))["id"])
    people = [owner]
    for stem in guests:
        guest = await api.signup(stem)
        await api.join(guest, session["join_code"])
        people.append(guest)
    return session, people


async def _report(api: Api, who: Any, session_id: int) -> dict[str, Any]:
    r = await api.client.get(f"/api/sessions/{session_id}/report", headers=who.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_report_counts_every_field(api: Api, seeder: Seeder) -> None:
    session, (ann, ben, cat, dan) = await _room(api, "ben", "cat", "dan")
    sid = session["id"]
    await seeder.times(sid, created_at=T0, ended_at=at(90))
    asks = await seeder.events(
        sid,
        F.join(ann, at(1)),
        F.join(ben, at(2)),
        F.chat(ann, at(3)),
        F.chat(ben, at(4)),
        F.chat(ann, at(5)),
        F.ask(ann, at(6), "t1"),
    )
    await seeder.events(
        sid,
        F.start("t1", asks[-1], at(6.01)),
        F.done("t1", at(6.5), 120, 40, 500),
        # Cat never joined the room in this transcript (her join predates it), but wrote.
        F.chat(cat, at(7)),
        F.ask(ben, at(8), "t2"),
        F.done("t2", at(8.5), 200, 60, 200),
        F.ask(cat, at(9), "t3"),
        F.error("t3", at(9.2)),
        F.ask(ann, at(10), "t4"),
        F.done("t4", at(10.5), 80, 10, 300),
        F.ask(ann, at(11), "t5"),
        # A stopped turn without a first token: no ttft_ms in its frame.
        F.done("t5", at(11.1), 30, 0, None),
        F.quiz("q1", at(12)),
        F.result(ann, "q1", True, at(13)),
        F.result(ben, "q1", False, at(13.5)),
        F.quiz("q2", at(14)),
        F.result(ann, "q2", True, at(15)),
        # Dan only left: a departure without an arrival does not make a participant.
        F.leave(dan, at(16)),
        F.leave(ann, at(80)),
    )
    report = await _report(api, ben, sid)
    assert report == {
        "duration_s": 5400.0,
        "participants": 3,
        "messages": 4,
        "questions": 5,
        "tutor_turns": 5,
        "tokens_in": 430,
        "tokens_out": 110,
        "ttft_ms_p50": 300.0,
        "quiz_answers": 3,
        "quiz_accuracy": 2 / 3,
    }


async def test_median_of_an_even_count_is_the_mean_of_the_middle_two(
    api: Api, seeder: Seeder
) -> None:
    session, (ann,) = await _room(api)
    sid = session["id"]
    await seeder.times(sid, created_at=T0, ended_at=at(0.5))
    for i, ttft in enumerate((900, 100, 250, 400)):
        await seeder.events(
            sid, F.ask(ann, at(i / 10), f"t{i}"), F.done(f"t{i}", at(i / 10 + 0.01), 1, 2, ttft)
        )
    report = await _report(api, ann, sid)
    assert report["ttft_ms_p50"] == 325.0
    assert (report["tokens_in"], report["tokens_out"], report["tutor_turns"]) == (4, 8, 4)
    assert report["duration_s"] == 30.0


async def test_a_new_session_reports_zeros_and_nulls(api: Api) -> None:
    session, (ann,) = await _room(api)
    report = await _report(api, ann, session["id"])
    created = datetime.fromisoformat(session["created_at"])
    elapsed = (datetime.now(UTC) - created).total_seconds()
    # Active: the duration runs up to now.
    assert 0 <= report.pop("duration_s") <= elapsed + 1
    assert report == {
        "participants": 0,
        "messages": 0,
        "questions": 0,
        "tutor_turns": 0,
        "tokens_in": 0,
        "tokens_out": 0,
        "ttft_ms_p50": None,
        "quiz_answers": 0,
        "quiz_accuracy": None,
    }


async def test_the_report_is_for_members_only(api: Api) -> None:
    session, (ann,) = await _room(api)
    stranger = await api.signup("stranger")
    path = f"/api/sessions/{session['id']}/report"
    r = await api.client.get(path, headers=stranger.headers)
    assert r.status_code == 403 and r.json() == {
        "detail": "not a member of this session",
        "code": "forbidden",
    }
    r = await api.client.get(path)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = await api.client.get(path, headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    r = await api.client.get("/api/sessions/987654321/report", headers=ann.headers)
    assert r.status_code == 404 and r.json() == {"detail": "session not found", "code": "not_found"}
    r = await api.client.get("/api/sessions/abc/report", headers=ann.headers)
    assert r.status_code == 422


async def test_nul_characters_in_messages_do_not_break_the_report(api: Api, seeder: Seeder) -> None:
    # PostgreSQL cannot read fields of JSON holding \u0000; members can type one into chat.
    session, (ann,) = await _room(api)
    sid = session["id"]
    await seeder.events(
        sid,
        F.join(ann, at(0)),
        F.chat(ann, at(1), text="nul \x00 and an escaped \\u0000"),
        F.ask(ann, at(2), "t1", text="what is \x00?"),
        F.done("t1", at(3), 7, 5, 250).model_copy(update={"text": "It is \x00."}),
    )
    report = await _report(api, ann, sid)
    assert (report["participants"], report["messages"], report["questions"]) == (1, 1, 1)
    assert (report["tokens_in"], report["tokens_out"], report["ttft_ms_p50"]) == (7, 5, 250.0)
    r = await api.client.get("/api/metrics/history", headers=ann.headers)
    assert r.status_code == 200, r.text
