"""What only the Redis engine has: key layout, lost connections, an unreachable server."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis.crc import key_slot

from protocol.events import UserRef
from server.live.keys import LiveKeys
from server.live.ports import LiveStateUnavailable, OutboxItem
from server.live.redis_engine import redis_live_state

Harness = Any  # tests/server/live/conftest.py, reached through the ``redis_engine`` fixture
Collector = Any

# Each harness has its own key prefix; within one it is enough that ids differ.
_SESSION_IDS = itertools.count(1)


def new_session() -> int:
    return next(_SESSION_IDS)


def chat(n: int) -> str:
    return f'{{"type":"chat","ts":"2024-01-01T00:00:00.000Z","n":{n}}}'


class Proxy:
    """A TCP relay to Redis that a test can cut (connections drop) or stop (nothing answers)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 6379
        self._db_path = parts.path
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}{self._db_path}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            self._writers.discard(writer)

    def cut(self) -> None:
        for writer in tuple(self._writers):
            writer.close()
        self._writers.clear()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.cut()


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    relay = Proxy(os.environ.get("STUDYROOM_TEST_REDIS", "redis://127.0.0.1:6379/0"))
    yield relay
    await relay.stop()


def test_a_sessions_keys_share_one_cluster_slot() -> None:
    keys = LiveKeys("studyroom")

    assert keys.log(42) == "studyroom:room:{42}:log"
    assert len({key_slot(key.encode()) for key in keys.session_keys(42)}) == 1
    assert key_slot(keys.channel(42).encode()) == key_slot(keys.log(42).encode())


def test_key_names_are_the_ones_deployments_already_hold() -> None:
    # Renaming a key would strand the live state of every room across an upgrade.
    keys = LiveKeys("studyroom")
    tag = "studyroom:room:{42}"

    assert keys.session_keys(42) == [
        f"{tag}:meta",
        f"{tag}:log",
        f"{tag}:presence:expiry",
        f"{tag}:presence:conn_user",
        f"{tag}:presence:users",
        f"{tag}:presence:counts",
        f"{tag}:turns",
        f"{tag}:tutor:lease",
        f"{tag}:tutor:started",
        f"{tag}:tutor:quizzes",
        f"{tag}:tutor:answers",
        f"{tag}:tutor:cards",
        f"{tag}:limits:asks",
        f"{tag}:limits:tokens",
        f"{tag}:gate",
    ]
    assert keys.channel(42) == f"{tag}:events"
    assert keys.turn_cancel(42, "t1") == f"{tag}:tutor:cancel:t1"
    assert keys.outbox == "studyroom:outbox"


async def test_a_log_whose_meta_vanished_restarts_cleanly(redis_engine: Harness) -> None:
    state = await redis_engine.open()
    session = new_session()
    for n in range(5):
        await state.log.append(session, chat(n), persist=False)
    before = await state.log.window(session)
    async with redis_engine.admin() as client:
        await client.delete(redis_engine.keys.meta(session))
    redis_engine.seeds[session] = 2

    event = await state.log.append(session, chat(9), persist=False)

    window = await state.log.window(session)
    assert event.seq == 3
    assert window.epoch != before.epoch
    assert await state.log.read(session, 0) == [event]


async def test_the_outbox_survives_losing_its_stream(redis_engine: Harness) -> None:
    state = await redis_engine.open()
    async with redis_engine.admin() as client:
        await client.delete(redis_engine.keys.outbox)
    session = new_session()

    event = await state.log.append(session, chat(1), persist=True)

    items = await state.outbox.take(10, 1.0)
    assert [(item.seq, item.data) for item in items] == [(event.seq, event.data)]


async def test_subscribers_catch_up_after_the_pubsub_connection_drops(
    redis_engine: Harness, collector: type[Collector], proxy: Proxy
) -> None:
    direct = await redis_engine.open()
    relayed = await redis_engine.open(url=await proxy.start(), consumer="relayed")
    session = new_session()
    seen = collector()
    await relayed.log.subscribe(session, seen)
    await direct.log.append(session, chat(1), persist=False)
    await seen.wait_for(1)

    proxy.cut()
    missed = await direct.log.append(session, chat(2), persist=False)

    # Re-delivered after the reconnect (or received live, had it already resubscribed).
    await seen.wait_until(lambda: missed.seq in seen.seqs)
    later = await direct.log.append(session, chat(3), persist=False)
    await seen.wait_until(lambda: later.seq in seen.seqs)
    assert seen.events[0].seq == 1
    assert {event.seq for event in seen.events} == {1, 2, 3}
    assert missed in seen.events


async def test_an_unreachable_server_raises_live_state_unavailable(
    redis_engine: Harness, collector: type[Collector], proxy: Proxy
) -> None:
    state = await redis_engine.open(url=await proxy.start(), consumer="cut-off")
    session = new_session()
    await state.log.append(session, chat(1), persist=True)
    await proxy.stop()

    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: state.log.append(session, chat(2), persist=False),
        lambda: state.log.signal(session, '{"type":"typing"}'),
        lambda: state.log.window(session),
        lambda: state.log.read(session, 0),
        lambda: state.log.subscribe(session, collector()),
        lambda: state.log.ping(),
        lambda: state.presence.join(session, "c", UserRef(id=1, name="ada")),
        lambda: state.presence.leave(session, "c"),
        lambda: state.presence.heartbeat(session, ["c"]),
        lambda: state.presence.reap(session),
        lambda: state.presence.members(session),
        lambda: state.outbox.take(10, 0.1),
        lambda: state.outbox.ack([OutboxItem(session, 1, chat(1), "1-0")]),
    ]
    for call in calls:
        with pytest.raises(LiveStateUnavailable):
            await call()


async def test_building_against_an_unreachable_server_raises_live_state_unavailable(
    proxy: Proxy,
) -> None:
    url = await proxy.start()
    await proxy.stop()

    async def seed(session_id: int) -> int:
        return 0

    with pytest.raises(LiveStateUnavailable):
        await redis_live_state(
            url=url,
            prefix="unreachable",
            retention=10,
            idle_ttl_s=60,
            presence_ttl_s=1.0,
            seed=seed,
            consumer="nobody",
        )
