"""REST latency under concurrency: closed-loop clients, each sending its next request as soon as
the previous one answered, for a fixed time, over keep-alive connections."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx

from bench.loadgen import percentile
from bench.procs import cpu_seconds
from tests.support.pool import RoomPool


async def _closed_loop(
    base_url: str,
    method: str,
    path: str,
    bodies: list[dict[str, Any] | None],
    headers: list[dict[str, str]],
    concurrency: int,
    duration_s: float,
    server_pid: int,
) -> dict[str, Any]:
    latencies: list[int] = []
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        # Open the connections before timing anything.
        await asyncio.gather(*(http.get("/healthz") for _ in range(concurrency)))
        deadline = time.monotonic() + duration_s

        async def client(index: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                body = bodies[(index + n) % len(bodies)]
                began = time.monotonic_ns()
                answer = await http.request(
                    method, path, json=body, headers=headers[index % len(headers)]
                )
                latencies.append(time.monotonic_ns() - began)
                statuses[answer.status_code] += 1
                n += 1

        began, cpu0 = time.monotonic(), cpu_seconds(server_pid)
        await asyncio.gather(*(client(i) for i in range(concurrency)))
        elapsed, cpu = time.monotonic() - began, cpu_seconds(server_pid) - cpu0
    latencies.sort()
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.5) / 1e6, 2),
        "p99_ms": round(percentile(latencies, 0.99) / 1e6, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_cpu_util": round(cpu / elapsed, 3),
        "server_cpu_ms_per_request": round(cpu * 1000 / len(latencies), 2) if latencies else None,
    }


async def rest_latency(
    setup: RoomPool, server_pid: int, concurrency: int, duration_s: float
) -> dict[str, Any]:
    users = await setup.ensure_users(setup.pool)
    # Every user is a member of at least one session, so "current" answers 200.
    await setup.session_ids(1, setup.pool)
    headers = [u.auth for u in users]
    titles: list[dict[str, Any] | None] = [
        {"title": f"Topic {i}", "description": "made by the benchmark"} for i in range(64)
    ]
    topics = await _closed_loop(
        setup.base_url, "POST", "/api/topics", titles, headers, concurrency, duration_s, server_pid
    )
    current = await _closed_loop(
        setup.base_url,
        "GET",
        "/api/sessions/current",
        [None],
        headers,
        concurrency,
        duration_s,
        server_pid,
    )
    return {
        "concurrency": concurrency,
        "duration_s": duration_s,
        "post_topics": topics,
        "get_sessions_current": current,
    }
