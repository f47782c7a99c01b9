"""A reconnect storm: every socket of many rooms drops at once and all come back at once.

``size`` storm sockets (rooms of ``room_size``) join and see some events (each sends one chat),
while separate untouched rooms carry a steady chat load (the fan-out machinery and its payload
stamps). Then every storm socket is dropped without a close handshake (its TCP connection
aborted) and all reconnect at once; studyroom's with ``last_seq`` and ``epoch`` of the last
event each saw, so they resume. Measured: the drop to the last ``welcome`` (the floor: its
hello), whether each studyroom socket resumed, the server's CPU over the storm, and the
untouched rooms' delivery latency in the storm against just before it.

A studyroom socket the server refuses with 1013 (too busy) is connected again after the delay
its close reason asks for (``retry_after_ms=<int>``), else after 100 ms, plus jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import resource
import time
from dataclasses import dataclass
from typing import Any, cast

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from bench import metrics
from bench.fanout import Probe
from bench.loadgen import Fleet, latency_summary_ms, percentile
from bench.procs import own_cpu_seconds
from bench.systems import System
from bench.wire import Seat, StudyroomDialect, payload, stamp_of

ROOM_SIZE = 10
UNTOUCHED_ROOMS = 10
# The untouched rooms' load: 1 chat per member per second, 1,000 deliveries/s in 10 x 10.
UNTOUCHED_RATE = 1.0
TRY_AGAIN_LATER = 1013
RETRY_AFTER = re.compile(r"retry_after_ms=([0-9]{1,9})")
DEFAULT_RETRY_S = 0.1
# Every socket gives up after this long (refusals and connect errors included).
_GIVE_UP_S = 120.0
# Deliveries of chats sent in the storm may land after its last welcome: count them for this.
STORM_TAIL_S = 0.5
# File descriptors besides the sockets: logs, pools, the untouched rooms.
_FD_MARGIN = 1000
_OPTIONS: dict[str, Any] = {
    "compression": None,
    "ping_interval": None,
    "max_size": None,
    "open_timeout": 60,
    "close_timeout": 1,
}


def retry_delay_s(reason: str, rng: random.Random) -> float:
    """How long to wait after a 1013: the reason's ``retry_after_ms``, else 100 ms, plus up to
    half of it again as jitter, so refused sockets do not all come back in the same instant."""
    found = RETRY_AFTER.search(reason or "")
    base = int(found.group(1)) / 1000 if found else DEFAULT_RETRY_S
    return base * (1 + rng.random() / 2)


def fits(size: int) -> tuple[bool, int]:
    """Whether this process may open ``size`` more sockets (its soft RLIMIT_NOFILE, raised)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft >= size + _FD_MARGIN, soft


def _seq(frame: str) -> int:
    """The ``seq`` of a studyroom room event (they start ``{"seq":N,``), else -1."""
    if not frame.startswith('{"seq":'):
        return -1
    return int(frame[7 : frame.index(",", 7)])


@dataclass
class Tally:
    refusals: int = 0  # 1013 closes, every attempt
    connect_errors: int = 0  # the connect itself failed (and was tried again)


@dataclass
class StormSocket:
    seat: Seat
    ws: ClientConnection | None = None
    reader: asyncio.Task[None] | None = None
    last_seq: int = -1
    epoch: str | None = None
    chats: int = 0  # chat deliveries seen
    welcomed_ns: int = 0
    resumed: bool | None = None
    refused: int = 0

    async def read(self) -> None:
        assert self.ws is not None
        try:
            async for frame in cast(Any, self.ws):
                if not isinstance(frame, str):
                    continue
                seq = _seq(frame)
                if seq > self.last_seq:
                    self.last_seq = seq
                if stamp_of(frame) >= 0:
                    self.chats += 1
                elif frame == "2":  # an Engine.IO ping
                    await self.ws.send("3")
        except (ConnectionClosed, OSError):
            pass


class Storm:
    def __init__(self, system: System, seed: int = 0) -> None:
        self.system = system
        self.resumes = isinstance(system.dialect, StudyroomDialect)
        self.tally = Tally()
        self._rng = random.Random(seed)  # noqa: S311 - jitter, not secrets

    def _url(self, sock: StormSocket, resume: bool) -> str:
        url = sock.seat.url
        if resume and self.resumes and sock.last_seq >= 0:
            url += f"&last_seq={sock.last_seq}"
            if sock.epoch:
                url += f"&epoch={sock.epoch}"
        return url

    async def enter(self, sock: StormSocket, resume: bool) -> None:
        """Connect ``sock`` and enter its room, trying again after a 1013. studyroom: until its
        ``welcome``; a peer: until its dialect's handshake is done (the floor's hello)."""
        deadline = time.monotonic() + _GIVE_UP_S
        while True:
            url = self._url(sock, resume)
            try:
                ws = await connect(url, **_OPTIONS)
            except (OSError, TimeoutError, InvalidStatus) as exc:
                status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
                if status is not None and status not in (429, 503):
                    raise
                self.tally.connect_errors += 1
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(retry_delay_s("", self._rng))
                continue
            try:
                async with asyncio.timeout(60):
                    first = await ws.recv() if self.resumes else None
                    if first is None:
                        await self.system.dialect.enter(ws, sock.seat.room)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                if code != TRY_AGAIN_LATER or time.monotonic() > deadline:
                    raise
                self.tally.refusals += 1
                sock.refused += 1
                await asyncio.sleep(retry_delay_s(exc.rcvd.reason if exc.rcvd else "", self._rng))
                continue
            except Exception:
                with contextlib.suppress(WebSocketException, OSError, TimeoutError):
                    await ws.close()
                raise
            sock.welcomed_ns = time.monotonic_ns()
            break
        sock.ws = ws
        if self.resumes:
            if not isinstance(first, str):
                raise RuntimeError(f"expected a text frame first, got {first!r:.200}")
            welcome = json.loads(first)
            if welcome.get("type") != "welcome":
                raise RuntimeError(f"expected welcome, got {first:.200}")
            sock.epoch = str(welcome.get("epoch") or "") or None
            if not resume:
                sock.last_seq = int(welcome["seq"])
            sock.resumed = bool(welcome.get("resumed"))
        sock.reader = asyncio.create_task(sock.read())

    async def join_all(self, socks: list[StormSocket], concurrency: int = 50) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(sock: StormSocket) -> None:
            async with gate:
                await self.enter(sock, resume=False)

        await asyncio.gather(*(one(s) for s in socks))

    async def see_events(self, socks: list[StormSocket], room_size: int) -> None:
        """Each storm socket sends one chat; until every member saw every chat of its room."""
        chat = self.system.dialect.chat
        for index, sock in enumerate(socks):
            assert sock.ws is not None
            await sock.ws.send(chat(payload(time.monotonic_ns())))
            if index % 50 == 49:
                await asyncio.sleep(0.02)
        async with asyncio.timeout(60):
            while any(s.chats < room_size for s in socks):  # noqa: ASYNC110 - plain counters
                await asyncio.sleep(0.05)

    def drop(self, socks: list[StormSocket]) -> None:
        """Every socket's TCP connection aborted at once: no close frame, no FIN handshake."""
        for sock in socks:
            if sock.reader is not None:
                sock.reader.cancel()
            if sock.ws is not None:
                sock.ws.transport.abort()
            sock.ws, sock.reader, sock.resumed = None, None, None

    async def close(self, socks: list[StormSocket]) -> None:
        async def one(sock: StormSocket) -> None:
            if sock.ws is not None:
                with contextlib.suppress(WebSocketException, OSError, TimeoutError):
                    await sock.ws.close()
            if sock.reader is not None:
                sock.reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sock.reader

        for start in range(0, len(socks), 500):
            await asyncio.gather(*(one(s) for s in socks[start : start + 500]))


async def storm(
    system: System,
    probe: Probe,
    size: int,
    room_size: int = ROOM_SIZE,
    untouched_rooms: int = UNTOUCHED_ROOMS,
    warmup_s: float = 1.5,
    before_s: float = 3.0,
) -> dict[str, Any]:
    ok, limit = fits(size)
    if not ok:
        return {"status": "skipped", "sockets": size, "reason": f"RLIMIT_NOFILE is {limit}"}
    rooms = size // room_size
    runner = Storm(system)
    untouched = Fleet(system.dialect)
    socks: list[StormSocket] = []
    driver: asyncio.Task[None] | None = None
    studyroom = system.key == "studyroom"
    try:
        await untouched.open(await system.seats(untouched_rooms, room_size))
        seats = await system.seats(rooms, room_size, first_room=untouched_rooms)
        socks = [StormSocket(seat) for seat in seats]
        began = time.monotonic()
        await runner.join_all(socks)
        join_s = time.monotonic() - began
        await runner.see_events(socks, room_size)
        seen = [s.last_seq for s in socks]

        driver = asyncio.create_task(untouched.drive(untouched_rooms * room_size * UNTOUCHED_RATE))
        await asyncio.sleep(warmup_s)
        await probe.refresh()
        untouched.recorder.latencies = []
        t0, cpu0, _, _ = probe.read()
        await asyncio.sleep(before_s)
        t1, cpu1, _, _ = probe.read()
        before = untouched.recorder.latencies
        baseline_util = (cpu1 - cpu0) / (t1 - t0)
        counters0 = await metrics.counters(system.port) if studyroom else {}

        # The storm.
        closed0 = untouched.recorder.closed
        untouched.recorder.latencies = []
        own0 = own_cpu_seconds()
        t_drop, cpu_drop, redis_drop, pg_drop = probe.read()
        drop_ns = time.monotonic_ns()
        runner.drop(socks)
        outcomes = await asyncio.gather(
            *(runner.enter(s, resume=True) for s in socks), return_exceptions=True
        )
        t_end, cpu_end, redis_end, pg_end = probe.read()
        own1 = own_cpu_seconds()
        await asyncio.sleep(STORM_TAIL_S)
        during = untouched.recorder.latencies
        untouched_closed = untouched.recorder.closed - closed0
        counters1 = await metrics.counters(system.port) if studyroom else {}
    finally:
        if driver is not None:
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        await runner.close(socks)
        await untouched.close()

    failures = [o for o in outcomes if isinstance(o, BaseException)]
    welcomed = sorted(s.welcomed_ns - drop_ns for s in socks if s.ws is not None)
    storm_s = t_end - t_drop
    storm_cpu = cpu_end - cpu_drop
    result: dict[str, Any] = {
        "sockets": size,
        "rooms": rooms,
        "room_size": room_size,
        "untouched": {
            "rooms": untouched_rooms,
            "room_size": room_size,
            "deliveries_per_s": untouched_rooms * room_size**2 * UNTOUCHED_RATE,
        },
        "drop": "transport.abort()",
        "before_s": before_s,
        "join_s": round(join_s, 2),
        "events_seen_min": min(seen) if seen else None,
        "reconnected": len(welcomed),
        "failed": len(failures),
        "first_failure": f"{type(failures[0]).__name__}: {failures[0]}"[:500] if failures else None,
        "storm_s": round(welcomed[-1] / 1e9, 3) if welcomed else None,
        "cpu_window_s": round(storm_s, 3),
        "welcome_p50_ms": round(percentile(welcomed, 0.50) / 1e6, 1),
        "welcome_p99_ms": round(percentile(welcomed, 0.99) / 1e6, 1),
        "refused_then_retried": sum(1 for s in socks if s.refused),
        "refusals": runner.tally.refusals,
        "connect_errors_retried": runner.tally.connect_errors,
        "server_cpu_s": round(storm_cpu, 3),
        "server_cpu_util": round(storm_cpu / storm_s, 3) if storm_s else None,
        "baseline_cpu_util": round(baseline_util, 3),
        "cpu_ms_per_socket": round((storm_cpu - baseline_util * storm_s) * 1e3 / size, 3),
        "loadgen_cpu_util": round((own1 - own0) / storm_s, 3) if storm_s else None,
        "untouched_before": latency_summary_ms(before),
        "untouched_during": latency_summary_ms(during),
        "untouched_closed": untouched_closed,
    }
    if runner.resumes:
        result["resumed"] = sum(1 for s in socks if s.resumed)
        result["not_resumed"] = sum(1 for s in socks if s.resumed is False)
    if redis_drop is not None and redis_end is not None:
        result["redis_cpu_s"] = round(redis_end - redis_drop, 3)
    if pg_drop is not None and pg_end is not None:
        result["postgres_cpu_s"] = round(pg_end - pg_drop, 3)
    if counters1:
        result["server_counters"] = metrics.added(counters0, counters1)
    return result
