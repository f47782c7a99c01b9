"""Reports of a room driven like clients drive it: sockets, chat, a tutor turn, a quiz.

The tutor talks to a scripted OpenAI-compatible server, so its turns carry real usage and
time to first token; the report must agree with the frames the members received.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.scripted_openai import Script, ScriptedOpenAI, ToolCallStep, Usage
from tests.support import RoomKit

QUIZ = {
    "question": "Which gas do plants release?",
    "choices": ["Nitrogen", "Oxygen", "Helium"],
    "answer_index": 1,
    "concept": "photosynthesis products",
}


@pytest.fixture
async def model() -> AsyncIterator[ScriptedOpenAI]:
    async with ScriptedOpenAI() as scripted:
        yield scripted


def _ends(frame: dict[str, Any], turn_id: str) -> bool:
    return frame.get("turn_id") == turn_id and frame["type"] in ("agent.done", "agent.error")


async def _report_when(
    kit: RoomKit, who: Any, session_id: int, done: Any, timeout: float = 15.0
) -> dict[str, Any]:
    """The report, once the transcript has caught up with the room."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await kit.http.get(f"/api/sessions/{session_id}/report", headers=who.auth)
        assert r.status_code == 200, r.text
        report: dict[str, Any] = r.json()
        if done(report) or asyncio.get_running_loop().time() > deadline:
            return report
        await asyncio.sleep(0.1)


async def test_report_of_a_live_room(
    model: ScriptedOpenAI,
    make_server: Any,
    unique: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", model.base_url)
    server = await make_server(tutor_provider="openai", tutor_model="scripted", tutor_max_retries=1)
    kit = RoomKit(server.base_url, unique)
    try:
        ann, ben = await kit.person("ann"), await kit.person("ben")
        session = await kit.session(ann, ben)
        a = await kit.connect(ann, session)
        b = await kit.connect(ben, session)
        for conn, text in ((a, "hi"), (b, "hello"), (a, "ready?")):
            await conn.send({"type": "chat", "text": text})
            await conn.until(lambda f, text=text: f.get("type") == "chat" and f["text"] == text)

        model.enqueue(
            Script(ToolCallStep("pose_quiz", json.dumps(QUIZ), id="call_1"), Usage()),
            Script.tokens("I posted a quiz: give it a try!"),
            Script.tokens("Plants release oxygen."),
        )
        await a.send({"type": "ask", "text": "Quiz me"})
        asked = await a.until(lambda f: f.get("type") == "ask")
        quiz = await b.until(lambda f: f.get("type") == "quiz")
        first = await a.seen(lambda f: _ends(f, asked["turn_id"]))
        await b.send({"type": "answer", "quiz_id": quiz["quiz_id"], "choice": 1})
        await a.send({"type": "answer", "quiz_id": quiz["quiz_id"], "choice": 0})
        await b.send({"type": "ask", "text": "What do plants release?"})
        asked = await b.until(lambda f: f.get("type") == "ask" and f["user"]["id"] == ben.id)
        second = await b.seen(lambda f: _ends(f, asked["turn_id"]))
        assert first["type"] == second["type"] == "agent.done", (first, second)
        await b.ws.close()

        turns = (first, second)
        report = await _report_when(
            kit, ann, session["id"], lambda r: r["tutor_turns"] == 2 and r["quiz_answers"] == 2
        )
        created = datetime.fromisoformat(session["created_at"])
        assert 0 < report.pop("duration_s") <= (datetime.now(UTC) - created).total_seconds() + 1
        assert report == {
            "participants": 2,
            "messages": 3,
            "questions": 2,
            "tutor_turns": 2,
            "tokens_in": sum(t["usage"]["tokens_in"] for t in turns),
            "tokens_out": sum(t["usage"]["tokens_out"] for t in turns),
            "ttft_ms_p50": sum(t["ttft_ms"] for t in turns) / 2,
            "quiz_answers": 2,
            "quiz_accuracy": 0.5,
        }

        ended = await kit.http.post(f"/api/sessions/{session['id']}/end", headers=ann.auth)
        assert ended.status_code == 200, ended.text
        stop = datetime.fromisoformat(ended.json()["ended_at"])
        final = await _report_when(kit, ben, session["id"], lambda r: True)
        assert final["duration_s"] == round((stop - created).total_seconds(), 3)

        r = await kit.http.get(
            "/api/metrics/history", params={"from": created.isoformat()}, headers=ann.auth
        )
        assert r.status_code == 200, r.text
        series = r.json()
        assert sum(b["questions"] for b in series) == 1
        assert sum(b["quiz_answers"] for b in series) == 1
        assert [b["quiz_accuracy"] for b in series if b["quiz_answers"]] == [0.0]
        assert sum(b["tokens"] for b in series) == sum(first["usage"].values())
        # Ann stayed connected: her stay ends with the session.
        minutes = sum(b["study_minutes"] for b in series)
        assert 0 < minutes <= (stop - created).total_seconds() / 60 + 0.01
    finally:
        await kit.aclose()
