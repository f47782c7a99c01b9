"""Join cost: server CPU per socket that joins a room, and how long each join takes.

A baseline of 20 sockets (2 rooms) first, so one-time costs land before the measurement, and
the seats of every room are made beforehand (studyroom: users, sessions and memberships over
REST; tokens signed by the harness). Then ``joins`` sockets in rooms of ``room_size`` connect,
``concurrency`` at a time; each is timed from the start of its connect to its first frame
(studyroom's ``welcome``, the floor's hello). The server's CPU is read from before the first
connect until ``settle_s`` after the last first frame, so work a join leaves for later
(presence fan-out, batched writes) is counted too, less what the server burns idle.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import metrics
from bench.fanout import Probe
from bench.loadgen import Fleet, percentile
from bench.procs import cpu_seconds, own_cpu_seconds
from bench.systems import System

WARM_ROOMS = 2
ROOM_SIZE = 10
CONCURRENCY = 50


async def join_cost(
    system: System,
    probe: Probe,
    joins: int,
    room_size: int = ROOM_SIZE,
    concurrency: int = CONCURRENCY,
    settle_s: float = 1.0,
) -> dict[str, Any]:
    rooms = joins // room_size
    fleets: list[Fleet] = []
    try:
        warm = Fleet(system.dialect)
        fleets.append(warm)
        await warm.open(await system.seats(WARM_ROOMS, room_size))
        seats = await system.seats(rooms, room_size, first_room=WARM_ROOMS)
        await asyncio.sleep(settle_s)
        cpu0, t0 = cpu_seconds(system.pid), time.monotonic()
        await asyncio.sleep(settle_s)
        idle_util = (cpu_seconds(system.pid) - cpu0) / (time.monotonic() - t0)
        before = await metrics.counters(system.port) if system.key == "studyroom" else {}

        fleet = Fleet(system.dialect)
        fleets.append(fleet)
        timings: list[int] = []
        await probe.refresh()
        own0 = own_cpu_seconds()
        t0, cpu0, redis0, pg0 = probe.read()
        await fleet.open(seats, concurrency=concurrency, timings=timings)
        wall_s = time.monotonic() - t0
        own1 = own_cpu_seconds()
        await asyncio.sleep(settle_s)
        t1, cpu1, redis1, pg1 = probe.read()
        after = await metrics.counters(system.port) if system.key == "studyroom" else {}
        alive = fleet.alive
    finally:
        for open_fleet in fleets:
            await open_fleet.close()
    joined = len(timings)
    cpu_s = (cpu1 - cpu0) - idle_util * (t1 - t0)
    timings.sort()
    result: dict[str, Any] = {
        "sockets": joined,
        "rooms": rooms,
        "room_size": room_size,
        "concurrency": concurrency,
        "alive_at_end": alive,
        "wall_s": round(wall_s, 3),
        "joins_per_s": round(joined / wall_s, 1) if wall_s else None,
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "idle_cpu_util": round(idle_util, 4),
        "cpu_ms_per_join": round(cpu_s * 1e3 / joined, 3) if joined else None,
        "server_cpu_util": round((cpu1 - cpu0) / (t1 - t0), 3),
        "loadgen_cpu_util": round((own1 - own0) / wall_s, 3) if wall_s else None,
        "join_p50_ms": round(percentile(timings, 0.50) / 1e6, 2),
        "join_p99_ms": round(percentile(timings, 0.99) / 1e6, 2),
        "join_max_ms": round(timings[-1] / 1e6, 2) if timings else None,
    }
    if redis0 is not None and redis1 is not None and joined:
        result["redis_cpu_ms_per_join"] = round((redis1 - redis0) * 1e3 / joined, 3)
    if pg0 is not None and pg1 is not None and joined:
        result["postgres_cpu_ms_per_join"] = round((pg1 - pg0) * 1e3 / joined, 3)
    if after:
        result["server_counters"] = metrics.added(before, after)
    return result
