"""The persisted transcript keeps up with the room, and catches up after a database outage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest


class Relay:
    """A TCP relay to the database that a test can cut and restore, like a network fault."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._pipes.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._pipes.discard(writer)
            writer.close()

    async def sever(self) -> None:
        """Drop every connection and refuse new ones, as a database host that went away."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in tuple(self._pipes):
            writer.transport.abort()

    async def stop(self) -> None:
        await self.sever()


@pytest.fixture
async def relay(backend: Any) -> AsyncIterator[Relay | None]:
    if backend.name != "services":
        yield None
        return
    parts = urlsplit(backend.database_url.replace("+asyncpg", ""))
    proxy = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
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
        await relay.sever()
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
            await relay.start()
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
