"""Memory per idle connection: the server's RSS/PSS growth divided by the connections added.

A few rooms are connected first so one-time costs (imports on first use, caches, pools) land
in the baseline, then connections are added in rooms of ``room_size`` up to each count. The
server's CPU while everything sits idle is measured too (heartbeats, presence, pings).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.loadgen import Fleet
from bench.procs import cpu_seconds, memory_kib
from bench.systems import System

_WARM_ROOMS = 2


async def idle_memory(
    system: System,
    counts: tuple[int, ...],
    room_size: int = 10,
    settle_s: float = 3.0,
    idle_cpu_s: float = 5.0,
) -> dict[str, Any]:
    fleets: list[Fleet] = []
    points: list[dict[str, Any]] = []
    try:
        warm = Fleet(system.dialect)
        fleets.append(warm)
        await warm.open(await system.seats(_WARM_ROOMS, room_size))
        await asyncio.sleep(settle_s)
        base = memory_kib(system.pid)
        connected, next_room = 0, _WARM_ROOMS
        for count in sorted(counts):
            rooms = (count - connected) // room_size
            fleet = Fleet(system.dialect)
            fleets.append(fleet)
            began = time.monotonic()
            await fleet.open(await system.seats(rooms, room_size, first_room=next_room))
            connect_s = time.monotonic() - began
            next_room += rooms
            connected += rooms * room_size
            await asyncio.sleep(settle_s)
            now = memory_kib(system.pid)
            cpu0, t0 = cpu_seconds(system.pid), time.monotonic()
            await asyncio.sleep(idle_cpu_s)
            idle_cpu = (cpu_seconds(system.pid) - cpu0) / (time.monotonic() - t0)
            alive = sum(f.alive for f in fleets) - warm.alive
            points.append(
                {
                    "connections": connected,
                    "alive": alive,
                    "connect_s": round(connect_s, 2),
                    "rss_kib": now["rss_kib"],
                    "pss_kib": now["pss_kib"],
                    "rss_per_conn_kib": round((now["rss_kib"] - base["rss_kib"]) / connected, 2),
                    "pss_per_conn_kib": round((now["pss_kib"] - base["pss_kib"]) / connected, 2),
                    "idle_cpu_util": round(idle_cpu, 4),
                }
            )
    finally:
        for fleet in fleets:
            await fleet.close()
    return {
        "room_size": room_size,
        "baseline_rss_kib": base["rss_kib"],
        "baseline_pss_kib": base["pss_kib"],
        "points": points,
    }
