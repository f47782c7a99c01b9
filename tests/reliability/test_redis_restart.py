"""Redis restarts with nothing kept: the server survives and no stale seq is taken as current.

The test runs its own redis-server (no persistence) on a free port so it can kill and restart
it without touching the Redis other tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
import websockets

from tests.support import Conn, RoomKit
from tests.support.processes import free_port

SERVICE_BACK_WITHIN_S = 10.0


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is needed (the services backend installs it)"
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), *options, "--dir", str(self._directory)],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        try:
            for _ in range(100):
                with contextlib.suppress(redis.ConnectionError):
                    if await client.ping():
                        return
                await asyncio.sleep(0.05)
            raise RuntimeError("redis-server did not start")
        finally:
            await client.aclose()

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)


@pytest.fixture
async def private_redis(services_backend: Any, tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    instance = PrivateRedis(tmp_path)
    await instance.start()
    yield instance
    instance.kill()


async def _until_transcript(kit: RoomKit, person: Any, session_id: int, count: int) -> None:
    for _ in range(200):
        if len([r for r in await kit.messages(person, session_id) if r["type"] == "chat"]) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the transcript did not catch up")


async def _reconnect(
    kit: RoomKit, person: Any, session: dict[str, Any], **params: Any
) -> tuple[Conn, float]:
    """Reconnect as clients do, with back-off, until welcomed; returns the socket and the time."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < SERVICE_BACK_WITHIN_S:
        with contextlib.suppress(OSError, websockets.InvalidHandshake, AssertionError):
            return await kit.connect(person, session, **params), loop.time() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"service was not back within {SERVICE_BACK_WITHIN_S} s")


async def test_redis_restart_without_persistence(
    services_backend: Any, private_redis: PrivateRedis, spawn: Any, make_kit: Any
) -> None:
    proc = spawn(services_backend.env(STUDYROOM_REDIS_URL=private_redis.url))
    kit = make_kit(proc.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a = await kit.connect(alice, session)
    b = await kit.connect(bob, session)
    for i in range(5):
        await a.send({"type": "chat", "text": f"before-{i}"})
    await b.until(lambda f: f.get("text") == "before-4")
    held, epoch = b.last_seq, b.welcome["epoch"]
    # What the transcript already holds survives; the live log will not.
    await _until_transcript(kit, alice, session["id"], 5)

    private_redis.kill()
    # While Redis is away, the room refuses frames with a clear error and stays connected.
    await a.send({"type": "chat", "text": "into the void"})
    refused = await a.until(lambda f: f.get("type") == "error", timeout=15)
    assert refused["code"] == "unavailable"
    await private_redis.start()
    # Once it is back, empty, the room restarts: members are told to reconnect (1012).
    assert await b.closed_with(timeout=SERVICE_BACK_WITHIN_S) == 1012
    assert await a.closed_with(timeout=SERVICE_BACK_WITHIN_S) == 1012

    # With the epoch it saw, a client learns its position is gone: no replay, reload.
    b2, took = await _reconnect(kit, bob, session, last_seq=held, epoch=epoch)
    assert b2.welcome["resumed"] is False
    assert b2.welcome["epoch"] != epoch
    assert took < SERVICE_BACK_WITHIN_S
    # Without the epoch, the seq it holds is still not taken as a position in the new log.
    a2, _ = await _reconnect(kit, alice, session, last_seq=held)
    assert a2.welcome["resumed"] is False
    assert a2.welcome["seq"] > held  # new numbers never reuse ones clients hold

    await a2.send({"type": "chat", "text": "after"})
    after = await b2.until(lambda f: f.get("text") == "after")
    assert after["seq"] > held
    # The transcript keeps the old events and the new one, in seq order, once each.
    await _until_transcript(kit, alice, session["id"], 6)
    rows = [r for r in await kit.messages(alice, session["id"]) if r["type"] == "chat"]
    assert [r["text"] for r in rows] == [f"before-{i}" for i in range(5)] + ["after"]
    assert [r["seq"] for r in rows] == sorted({r["seq"] for r in rows})
    # Health tells the truth again.
    assert (await kit.http.get("/readyz")).status_code == 200
