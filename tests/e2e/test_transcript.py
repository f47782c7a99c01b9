"""The persisted transcript keeps up with the room, and catches up after a database outage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fakes.tcp_relay import Relay


@pytest.fixture
async def relay(backend: Any) -> AsyncIterator[Relay | None]:
    if backend.name != "services":
        yield None
        return
    parts = urlsplit(backend.database_url.replace("+asyncpg", ""))
    proxy = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    await proxy.start()
    yield proxy
    await proxy.stop()


async def test_transcript_catches_up_after_a_database_outage(
    backend: Any, relay: Relay | None, make_server: Any, make_kit: Any
) -> None:
    overrides: dict[str, Any] = {"transcript_retry_s": 0.2, "rate_limit_burst": 100}
    if relay is not None:
        url = backend.database_url.replace(
            f":{urlsplit(backend.database_url).port}/", f":{relay.port}/"
        )
        overrides["database_url"] = url
    server = await make_server(**overrides)
    kit = make_kit(server.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a = await kit.connect(alice, session)
    b = await kit.connect(bob, session)
    for i in range(5):
        await a.send({"type": "chat", "text": f"before-{i}"})
    await b.seen(lambda f: f.get("text") == "before-4")

    # On the embedded backend there is no network to cut: the same flow checks that the
    # transcript equals what members saw.
    if relay is not None:
        relay.cut()
    try:
        # The room does not wait for the database.
        for i in range(10):
            await a.send({"type": "chat", "text": f"during-{i}"})
        await b.seen(lambda f: f.get("text") == "during-9")
        if relay is not None:
            down = await kit.http.get(f"/api/sessions/{session['id']}/messages", headers=bob.auth)
            assert down.status_code == 503
    finally:
        if relay is not None:
            relay.restore()
    for i in range(3):
        await a.send({"type": "chat", "text": f"after-{i}"})
    await b.seen(lambda f: f.get("text") == "after-2")

    live = [e for e in b.events if e["type"] == "chat"]
    deadline = asyncio.get_running_loop().time() + 30
    rows: list[dict[str, Any]] = []
    while asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(AssertionError):
            rows = [r for r in await kit.messages(bob, session["id"]) if r["type"] == "chat"]
            if len(rows) >= len(live):
                break
        await asyncio.sleep(0.3)
    # Exactly what members saw live: nothing missing, nothing doubled, same order and bytes.
    assert rows == live
    assert len(rows) == 18
