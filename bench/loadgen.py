"""The load generator: many raw WebSocket clients in one asyncio process, one paced sender.

Every connection has a reader that does the least possible per frame: find the send stamp,
subtract it from the clock, append the difference to a list (and answer a Socket.IO ping).
One sender task sends chats round-robin over the connections, ordered so consecutive chats go
to different rooms and every member sends at the same rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from bench.wire import Dialect, Seat, payload, stamp_of
from protocol.errors import retry_after_ms

# A server busy with joins (studyroom's 1013 with a retry hint) is asked again this often.
_BUSY_RETRIES = 50

# How a studyroom error frame starts; the peers never send one.
ERROR_PREFIX = '{"type":"error"'
# The sender wakes this often; chats due since the last wake-up are sent together.
_TICK_S = 0.001
# A sender this far behind (back-pressure from the server) skips ahead instead of bursting.
_MAX_LAG_S = 0.5


@dataclass
class Conn:
    ws: ClientConnection
    room: str
    position: int  # this connection's place among its room's members
    reader: asyncio.Task[None] | None = None
    dead: bool = False
    stalled: bool = False  # stopped reading on purpose (a slow consumer)


@dataclass
class Recorder:
    """What the readers saw; ``latencies`` (ns) is swapped for a fresh list per window."""

    latencies: list[int] = field(default_factory=list)
    errors: int = 0  # error frames (a refused chat, a rate limit…)
    closed: int = 0
    close_codes: Counter[int | None] = field(default_factory=Counter)


class Fleet:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.conns: list[Conn] = []
        self.recorder = Recorder()
        self.sent = 0
        self.skipped = 0
        self._closing = False

    @property
    def alive(self) -> int:
        return sum(1 for c in self.conns if not c.dead)

    async def open(
        self, seats: list[Seat], concurrency: int = 64, timings: list[int] | None = None
    ) -> None:
        """Connect every seat (and run its handshake); raises if any fails.

        With ``timings``, each connection appends the ns from the start of its connect (once
        it holds a slot) to the end of the dialect's handshake (its first frame, for studyroom
        and the floor).
        """
        gate = asyncio.Semaphore(concurrency)
        positions: Counter[str] = Counter()
        numbered = []
        for seat in seats:
            numbered.append((seat, positions[seat.room]))
            positions[seat.room] += 1

        async def one(seat: Seat, position: int) -> Conn:
            async with gate:
                began = time.monotonic_ns()
                for attempt in range(_BUSY_RETRIES + 1):
                    ws = await connect(
                        seat.url,
                        compression=None,
                        ping_interval=None,
                        max_size=None,
                        open_timeout=60,
                        close_timeout=1,
                    )
                    try:
                        async with asyncio.timeout(60):
                            await self.dialect.enter(ws, seat.room)
                        break
                    except ConnectionClosed as closed:
                        await ws.close()
                        close = closed.rcvd
                        hint = retry_after_ms(close.code, close.reason) if close else None
                        if hint is None or attempt == _BUSY_RETRIES:
                            raise
                        # As a client should: wait what the busy server asks, jittered.
                        await asyncio.sleep(hint / 1000 * (1 + random.random() / 2))  # noqa: S311
                    except BaseException:
                        await ws.close()
                        raise
                if timings is not None:
                    timings.append(time.monotonic_ns() - began)
            conn = Conn(ws, seat.room, position)
            conn.reader = asyncio.create_task(self._read(conn))
            return conn

        results = await asyncio.gather(
            *(one(seat, position) for seat, position in numbered), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        self.conns += [r for r in results if isinstance(r, Conn)]
        if failures:
            raise RuntimeError(
                f"{len(failures)} of {len(seats)} connections failed: {failures[0]!r}"
            )

    async def _read(self, conn: Conn) -> None:
        recorder = self.recorder
        clock = time.monotonic_ns
        ws = conn.ws
        try:
            # Every system here sends text frames only.
            async for frame in cast(AsyncIterator[str], ws):
                stamp = stamp_of(frame)
                if stamp >= 0:
                    recorder.latencies.append(clock() - stamp)
                elif frame == "2":
                    await ws.send("3")
                elif frame.startswith(ERROR_PREFIX):
                    recorder.errors += 1
        except (ConnectionClosed, OSError):
            pass
        finally:
            conn.dead = True
            if not self._closing:
                self.recorder.closed += 1
                code = ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None
                self.recorder.close_codes[code] += 1

    def stall(self, every: int) -> list[Conn]:
        """Make one connection in ``every`` stop reading (and sending), as a stuck client.

        Its reader is cancelled, so the client library stops taking frames off the socket and
        the server's buffers for it fill; the server should close it (4008).
        """
        stalled = self.conns[::every]
        for conn in stalled:
            conn.stalled = conn.dead = True
            if conn.reader is not None:
                conn.reader.cancel()
        return stalled

    def _send_order(self) -> list[Conn]:
        # Member 0 of every room, then member 1 of every room, …: rooms take turns.
        return sorted(self.conns, key=lambda c: (c.position, c.room))

    async def drive(self, rate_per_s: float) -> None:
        """Send chats at ``rate_per_s`` in total until cancelled."""
        order = self._send_order()
        count = len(order)
        chat = self.dialect.chat
        clock = time.monotonic_ns
        start = time.monotonic()
        done = 0
        index = 0
        while True:
            due = int((time.monotonic() - start) * rate_per_s)
            if due - done > rate_per_s * _MAX_LAG_S:
                self.skipped += due - done
                done = due
            while done < due:
                conn = order[index]
                index = index + 1 if index + 1 < count else 0
                done += 1
                if conn.dead:
                    self.skipped += 1
                    continue
                try:
                    await conn.ws.send(chat(payload(clock())))
                except (ConnectionClosed, OSError):
                    conn.dead = True
                    continue
                self.sent += 1
            await asyncio.sleep(_TICK_S)

    async def close(self) -> None:
        self._closing = True

        async def one(conn: Conn) -> None:
            with contextlib.suppress(WebSocketException, OSError, TimeoutError):
                await conn.ws.close()
            if conn.reader is not None:
                conn.reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await conn.reader

        for start in range(0, len(self.conns), 500):
            await asyncio.gather(*(one(c) for c in self.conns[start : start + 500]))
        self.conns = []


def percentile(ordered: list[int], q: float) -> float:
    if not ordered:
        return float("nan")
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def latency_summary_ms(samples_ns: list[int]) -> dict[str, Any]:
    ordered = sorted(samples_ns)
    return {
        "samples": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50) / 1e6, 3),
        "p99_ms": round(percentile(ordered, 0.99) / 1e6, 3),
        "max_ms": round(ordered[-1] / 1e6, 3) if ordered else None,
    }
