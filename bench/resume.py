"""Resume: a member comes back with ``last_seq`` (and ``epoch``) after 1,000 events it missed.

The member keeps a second connection open the whole time, so its comings and goings add no
presence events and every reconnect replays exactly the same 1,000 events. Timed: from the
start of the connect to the 1,000th replayed event (the handshake, admission, ``welcome`` and
the replay itself).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import connect

from bench.loadgen import Fleet, percentile
from bench.wire import Seat, StudyroomDialect, payload
from tests.support.pool import RoomPool

_OPTIONS: dict[str, Any] = {"compression": None, "ping_interval": None, "max_size": None}


def _seq(frame: str) -> int:
    """The ``seq`` of a room event (they start ``{"seq":N,``), else -1."""
    if not frame.startswith('{"seq":'):
        return -1
    return int(frame[7 : frame.index(",", 7)])


async def resume(setup: RoomPool, missed: int, repeats: int) -> dict[str, Any]:
    session_id, (url_a, url_b) = await setup.new_session(2)
    dialect = StudyroomDialect()
    fleet = Fleet(dialect)
    try:
        # The member's other connection (a), and the one who talks (b).
        await fleet.open([Seat(url_a, str(session_id)), Seat(url_b, str(session_id))])
        async with connect(url_a, **_OPTIONS) as ws:
            welcome = json.loads(await ws.recv())
        last_seq, epoch = int(welcome["seq"]), str(welcome["epoch"])
        talker = next(c for c in fleet.conns if c.position == 1)
        for _ in range(missed):
            await talker.ws.send(dialect.chat(payload(time.monotonic_ns())))
        async with asyncio.timeout(60):
            while len(fleet.recorder.latencies) < 2 * missed:  # noqa: ASYNC110 - a plain counter
                await asyncio.sleep(0.05)

        times: list[int] = []
        welcomes: list[int] = []
        replayed: list[int] = []
        for _ in range(repeats):
            began = time.monotonic_ns()
            async with connect(f"{url_a}&last_seq={last_seq}&epoch={epoch}", **_OPTIONS) as ws:
                hello = json.loads(await ws.recv())
                welcomed = time.monotonic_ns()
                if not hello.get("resumed"):
                    raise RuntimeError(f"not resumed: {hello}")
                head, count = int(hello["seq"]), 0
                async with asyncio.timeout(30):
                    while True:
                        frame = await ws.recv()
                        seq = _seq(frame) if isinstance(frame, str) else -1
                        if seq > last_seq:
                            count += 1
                        if seq >= head:
                            break
                ended = time.monotonic_ns()
            times.append(ended - began)
            welcomes.append(welcomed - began)
            replayed.append(count)
    finally:
        await fleet.close()
    times.sort()
    welcomes.sort()
    return {
        "missed_events": missed,
        "replayed_events": min(replayed),
        "repeats": repeats,
        "p50_ms": round(percentile(times, 0.5) / 1e6, 2),
        "p99_ms": round(percentile(times, 0.99) / 1e6, 2),
        "welcome_p50_ms": round(percentile(welcomes, 0.5) / 1e6, 2),
    }
