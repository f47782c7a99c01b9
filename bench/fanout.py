"""Fan-out: server CPU per delivered room event, delivery rate and latency, and a rate ramp.

A window runs a steady load: chats at a fixed total rate, round-robin over every member. After
``warmup_s`` the server's CPU (``/proc/<pid>/stat``, children included), the load generator's
own CPU and the latency samples are taken over ``window_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
import httpx

from bench import metrics
from bench.loadgen import Fleet, latency_summary_ms
from bench.procs import cpu_seconds, own_cpu_seconds
from bench.systems import System

# The p99 a rate must hold to count in the ramp.
RAMP_P99_MS = 100.0
# Below this share of the expected deliveries a step counts as failed (dropped or backlogged).
MIN_DELIVERED = 0.95
# Above this the load generator's core is busy enough to delay what it reads: past it, a
# failed step may be the load generator's failure, not the server's.
LOADGEN_BUSY = 0.75


@dataclass(frozen=True)
class Shape:
    rooms: int
    members: int
    per_member_rate: float  # chats a member sends per second

    @property
    def chats_per_s(self) -> float:
        return self.rooms * self.members * self.per_member_rate

    @property
    def deliveries_per_s(self) -> float:
        return self.chats_per_s * self.members

    @property
    def name(self) -> str:
        return f"{self.rooms}x{self.members}"


# Every shape offers 4,000 deliveries/s; what changes is how many members one chat reaches.
HEADLINE = Shape(40, 10, 1.0)
GRID = (HEADLINE, Shape(100, 10, 0.4), Shape(10, 100, 0.04), Shape(1, 500, 0.016))
# After a failed ramp step, how long the server may take to deliver its backlog.
_SETTLE_MAX_S = 30.0
# The ramp doubles the per-member rate on the headline shape (x 4,000 deliveries/s) up to this.
RAMP_MAX_RATE = 32.0


@dataclass
class Probe:
    """Where CPU is read: the server, and the Redis and PostgreSQL processes working for it.

    Redis is shared by everything on the machine and PostgreSQL backends are found by the
    scratch database's name, so their numbers are indications, not part of the server's cost.
    """

    server_pid: int
    redis_pid: int | None
    admin_dsn: str | None = None
    database: str | None = None
    # studyroom's port, for its own event-loop lag histogram (the peers have none).
    metrics_port: int | None = None
    _postgres: tuple[int, ...] = ()

    async def refresh(self) -> None:
        """Find the PostgreSQL backends serving the scratch database (its pool may have grown)."""
        if self.admin_dsn is None or self.database is None:
            return
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database
            )
        finally:
            await conn.close()
        self._postgres = tuple(int(r["pid"]) for r in rows)

    def read(self) -> tuple[float, float, float | None, float | None]:
        redis = _cpu_or_none(self.redis_pid) if self.redis_pid is not None else None
        postgres = None
        if self._postgres:
            postgres = sum(_cpu_or_none(pid) or 0.0 for pid in self._postgres)
        return time.monotonic(), cpu_seconds(self.server_pid), redis, postgres


def _cpu_or_none(pid: int) -> float | None:
    try:
        return cpu_seconds(pid)
    except OSError:
        return None


async def window(
    fleet: Fleet, probe: Probe, chats_per_s: float, members: int, warmup_s: float, window_s: float
) -> dict[str, Any]:
    """Drive ``chats_per_s`` and measure the steady part; the fleet is left connected."""
    driver = asyncio.create_task(fleet.drive(chats_per_s))
    try:
        await asyncio.sleep(warmup_s)
        closed0, errors0 = fleet.recorder.closed, fleet.recorder.errors
        codes0 = fleet.recorder.close_codes.copy()
        fleet.recorder.latencies = []
        sent0, skipped0, own0 = fleet.sent, fleet.skipped, own_cpu_seconds()
        await probe.refresh()
        seen0 = await _snapshot(probe)
        t0, cpu0, redis0, pg0 = probe.read()
        await asyncio.sleep(window_s)
        t1, cpu1, redis1, pg1 = probe.read()
        seen1 = await _snapshot(probe)
        samples = fleet.recorder.latencies
        sent1, skipped1, own1 = fleet.sent, fleet.skipped, own_cpu_seconds()
        closed = fleet.recorder.closed - closed0
        errors = fleet.recorder.errors - errors0
        codes = fleet.recorder.close_codes - codes0
    finally:
        driver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await driver
    elapsed = t1 - t0
    delivered = len(samples)
    expected = (sent1 - sent0) * members
    result: dict[str, Any] = {
        "offered_chats_per_s": round(chats_per_s, 2),
        "offered_deliveries_per_s": round(chats_per_s * members, 1),
        "window_s": round(elapsed, 2),
        "chats_sent": sent1 - sent0,
        "chats_skipped": skipped1 - skipped0,
        "deliveries": delivered,
        "deliveries_per_s": round(delivered / elapsed, 1),
        "delivered_share": round(delivered / expected, 4) if expected else None,
        "server_cpu_util": round((cpu1 - cpu0) / elapsed, 3),
        "cpu_us_per_delivery": round((cpu1 - cpu0) * 1e6 / delivered, 2) if delivered else None,
        "loadgen_cpu_util": round((own1 - own0) / elapsed, 3),
        "connections_closed": closed,
        "close_codes": {str(code): n for code, n in codes.items()},
        "error_frames": errors,
        "latency": latency_summary_ms(samples),
    }
    if seen0 is not None and seen1 is not None:
        (counters0, lag0), (counters1, lag1) = seen0, seen1
        result["loop_lag"] = metrics.lag_summary(lag0, lag1)
        result["gc_pauses"] = metrics.gc_summary(counters0, counters1)
    if redis0 is not None and redis1 is not None and delivered:
        result["redis_cpu_us_per_delivery"] = round((redis1 - redis0) * 1e6 / delivered, 2)
    if pg0 is not None and pg1 is not None and delivered:
        result["postgres_cpu_us_per_delivery"] = round((pg1 - pg0) * 1e6 / delivered, 2)
    # Let what is in flight arrive so the next window starts from a quiet room.
    await asyncio.sleep(min(1.0, warmup_s))
    return result


async def _snapshot(probe: Probe) -> tuple[dict[str, float], dict[float, float]] | None:
    """studyroom's counters and loop-lag buckets (the peers have no ``/metrics``)."""
    if probe.metrics_port is None:
        return None
    return await metrics.snapshot(probe.metrics_port)


async def shape_run(
    system: System, probe: Probe, shape: Shape, warmup_s: float, window_s: float
) -> dict[str, Any]:
    fleet = Fleet(system.dialect)
    try:
        began = time.monotonic()
        await fleet.open(await system.seats(shape.rooms, shape.members))
        connect_s = time.monotonic() - began
        await asyncio.sleep(1.0)
        result = await window(fleet, probe, shape.chats_per_s, shape.members, warmup_s, window_s)
    finally:
        await fleet.close()
    return {"shape": asdict(shape), "connect_s": round(connect_s, 2), **result}


# One member in this many stops reading in the slow-consumer run (5%).
SLOW_EVERY = 20


async def slow_consumers(
    system: System, probe: Probe, shape: Shape, warmup_s: float, window_s: float
) -> dict[str, Any]:
    """The headline load, then the same with 5% of the members no longer reading.

    What matters is that the others do not notice: their p99 against the baseline's, and the
    stalled sockets closed with 4008 (once the server's buffers for them are full; a client
    that reads nothing holds a kernel receive buffer too, so at this rate that can take longer
    than the window).
    """
    fleet = Fleet(system.dialect)
    try:
        await fleet.open(await system.seats(shape.rooms, shape.members))
        await asyncio.sleep(1.0)
        baseline = await window(fleet, probe, shape.chats_per_s, shape.members, warmup_s, window_s)
        stalled = fleet.stall(SLOW_EVERY)
        began = time.monotonic()
        # The stalled members' share of the deliveries no longer arrives: expect 95% of them.
        loaded = await window(fleet, probe, shape.chats_per_s, shape.members, warmup_s, window_s)
        # A client that stopped reading never reads its close frame: ask the server.
        closed_slow = await _closed_with_4008(system.port)
        observed_s = round(time.monotonic() - began, 1)
    finally:
        await fleet.close()
    p99_base = baseline["latency"].get("p99_ms")
    p99_slow = loaded["latency"].get("p99_ms")
    return {
        "shape": asdict(shape),
        "stalled": len(stalled),
        "baseline": baseline,
        "with_stalled": loaded,
        "p99_ratio": round(p99_slow / p99_base, 2) if p99_base and p99_slow else None,
        "closed_with_4008": closed_slow,
        "observed_for_s": observed_s,
    }


async def _closed_with_4008(port: int) -> int | None:
    """studyroom's count of sockets closed as slow consumers, from its Prometheus metrics."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith('studyroom_ws_closed_total{code="4008"}'):
            return int(float(line.split()[-1]))
    return 0


def step_verdict(step: dict[str, Any]) -> str | None:
    """Why a ramp step does not hold, or None if it does."""
    p99 = step["latency"]["p99_ms"]
    if step["connections_closed"]:
        return f"{step['connections_closed']} connections closed"
    if step["error_frames"]:
        return f"{step['error_frames']} error frames"
    if not step["deliveries"] or not p99 < RAMP_P99_MS:
        return f"p99 {p99} ms"
    share = step["delivered_share"]
    if share is None or share < MIN_DELIVERED:
        return f"only {share} of the deliveries arrived"
    return None


async def ramp(
    system: System,
    probe: Probe,
    max_rate: float,
    refinements: int,
    warmup_s: float,
    window_s: float,
) -> dict[str, Any]:
    """The highest rate on the headline shape that holds p99 < 100 ms.

    The per-member rate doubles from 1 chat/s until a step fails (or ``max_rate``), then the
    gap between the last rate that held and the first that failed is halved ``refinements``
    times (when 1 chat/s already fails, the rate is halved instead). After a failed step the
    server delivers its backlog before the next step (until nothing arrives for a second), and
    the connections are opened afresh if it closed any of them.
    """
    shape = HEADLINE
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    stopped_by = f"held up to the highest rate tried ({max_rate:g}/s per member)"
    fleet: Fleet | None = None

    async def step(rate: float) -> dict[str, Any]:
        nonlocal fleet
        if fleet is None:
            fleet = Fleet(system.dialect)
            await fleet.open(await system.seats(shape.rooms, shape.members))
            await asyncio.sleep(1.0)
        chats = shape.rooms * shape.members * rate
        result = await window(fleet, probe, chats, shape.members, warmup_s, window_s)
        result["per_member_rate"] = rate
        steps.append(result)
        return result

    async def reset() -> None:
        nonlocal fleet
        if fleet is None:
            return
        # An overloaded server works off its backlog: wait until deliveries stop arriving.
        deadline = time.monotonic() + _SETTLE_MAX_S
        seen = -1
        while len(fleet.recorder.latencies) != seen and time.monotonic() < deadline:
            seen = len(fleet.recorder.latencies)
            await asyncio.sleep(1.0)
        if fleet.alive < len(fleet.conns):
            await fleet.close()
            fleet = None

    try:
        held, failed_at, rate = 0.0, 0.0, 1.0
        while rate <= max_rate:
            result = await step(rate)
            failure = step_verdict(result)
            busy = result["loadgen_cpu_util"] >= LOADGEN_BUSY
            if failure is not None:
                failed_at = rate
                stopped_by = ("load generator saturated" if busy else "server") + f": {failure}"
                break
            best, held = result, rate
            if busy:
                stopped_by = "load generator saturated: the server may go higher"
                break
            rate *= 2
        if failed_at:
            for _ in range(refinements):
                await reset()
                # Below the first rate tried when even that failed, else between the two.
                rate = (held + failed_at) / 2 if held else failed_at / 2
                result = await step(rate)
                if step_verdict(result) is None and result["loadgen_cpu_util"] < LOADGEN_BUSY:
                    best, held = result, rate
                else:
                    failed_at = rate
    finally:
        if fleet is not None:
            await fleet.close()
    return {
        "shape": asdict(shape),
        "p99_limit_ms": RAMP_P99_MS,
        "max_deliveries_per_s": best["deliveries_per_s"] if best else None,
        "max_per_member_rate": best["per_member_rate"] if best else None,
        "lower_bound": stopped_by.startswith(("load generator", "held")),
        "stopped_by": stopped_by,
        "steps": steps,
    }
