"""PostgreSQL is unreachable for 10 s: rooms go on, REST says 503, the transcript catches up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fakes.scripted_openai import Script, ScriptedOpenAI
from tests.fakes.tcp_relay import Relay

OUTAGE_S = 10.0


@pytest.fixture
async def database_link(services_backend: Any) -> AsyncIterator[Relay]:
    parts = urlsplit(services_backend.database_url.replace("+asyncpg", ""))
    link = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    await link.start()
    yield link
    await link.stop()


async def test_ten_second_database_outage(
    services_backend: Any, database_link: Relay, spawn: Any, make_kit: Any
) -> None:
    port = urlsplit(services_backend.database_url).port
    url = services_backend.database_url.replace(f":{port}/", f":{database_link.port}/")
    async with ScriptedOpenAI(default=Script.tokens("Chlorophyll absorbs light.")) as model:
        proc = spawn(
            services_backend.env(
                STUDYROOM_DATABASE_URL=url,
                STUDYROOM_TRANSCRIPT_RETRY_S="0.2",
                STUDYROOM_RATE_LIMIT_BURST="200",
                STUDYROOM_TUTOR_PROVIDER="openai",
                STUDYROOM_TUTOR_MODEL="scripted",
                OPENAI_API_KEY="test-key",
                OPENAI_BASE_URL=model.base_url,
            )
        )
        kit = make_kit(proc.base_url)
        alice, bob = await kit.person("alice"), await kit.person("bob")
        session = await kit.session(alice, bob)
        a = await kit.connect(alice, session)
        b = await kit.connect(bob, session)
        await a.send({"type": "chat", "text": "before"})
        await b.until(lambda f: f.get("text") == "before")

        database_link.cut()
        loop = asyncio.get_running_loop()
        cut_at = loop.time()
        statuses: set[int] = set()
        sent = 0
        while loop.time() - cut_at < OUTAGE_S:
            await a.send({"type": "chat", "text": f"during-{sent}"})
            sent += 1
            for method, path in (
                ("GET", "/api/topics"),
                ("POST", "/api/topics"),
                ("GET", f"/api/sessions/{session['id']}/messages"),
                ("POST", "/api/connection-details"),
            ):
                body = (
                    {"title": "Leaves"} if path == "/api/topics" else {"session_id": session["id"]}
                )
                answer = await kit.http.request(
                    method, path, headers=alice.auth, json=body if method == "POST" else None
                )
                statuses.add(answer.status_code)
                assert answer.status_code == 503, (path, answer.status_code, answer.text)
                assert "detail" in answer.json()
            assert (await kit.http.get("/readyz")).status_code == 503
            assert (await kit.http.get("/healthz")).status_code == 200
            await asyncio.sleep(0.5)
        # The tutor answers without the database too (no materials to cite, no goals).
        await b.send({"type": "ask", "text": "What does chlorophyll do?"})
        done = await a.until(lambda f: f.get("type") in ("agent.done", "agent.error"), timeout=20)
        assert done["type"] == "agent.done", done
        await b.until(lambda f: f.get("text") == f"during-{sent - 1}")
        assert statuses == {503}
        database_link.restore()

        await a.send({"type": "chat", "text": "after"})
        await b.until(lambda f: f.get("text") == "after")
        live = [e for e in b.events if e["type"] != "agent.delta"]
        rows: list[dict[str, Any]] = []
        for _ in range(150):
            response = await kit.http.get(
                f"/api/sessions/{session['id']}/messages",
                params={"after_seq": b.welcome["seq"], "limit": 500},
                headers=bob.auth,
            )
            if response.status_code == 200:
                rows = response.json()
                if len(rows) >= len(live):
                    break
            await asyncio.sleep(0.2)
        # Exactly what the member saw live: nothing missing, nothing doubled.
        assert [(r["seq"], r["type"], r.get("text")) for r in rows] == [
            (e["seq"], e["type"], e.get("text")) for e in live
        ]
        assert sum(r["type"] == "chat" for r in rows) == sent + 2
        assert (await kit.http.get("/readyz")).status_code == 200
