"""studyroom's own counters from its ``/metrics``, and what a phase added to them.

They say what the server did while a phase ran (events appended, frames queued, sockets closed
by code), which tells where its CPU went; the peers have no such endpoint.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

# The samples worth keeping: counters and histogram totals. Gauges are a level, not work done.
_KEPT = ("_total", "_count", "_sum")


_LAG_BUCKET = 'studyroom_event_loop_lag_seconds_bucket{le="'


async def _scrape(port: int) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        return (await http.get("/metrics")).text


async def counters(port: int) -> dict[str, float]:
    """Every counter sample (``name{labels}`` → value) the server at ``port`` exposes."""
    return _counters(await _scrape(port))


async def snapshot(port: int) -> tuple[dict[str, float], dict[float, float]]:
    """The counters and the loop-lag buckets, from one scrape."""
    text = await _scrape(port)
    return _counters(text), _lag_buckets(text)


def _counters(text: str) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        if name.split("{", 1)[0].endswith(_KEPT) and not name.startswith("python_"):
            samples[name] = float(value)
    return samples


def added(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What grew between two scrapes (HTTP request counts left out: the harness's own set-up)."""
    grown = {
        name: round(value - before.get(name, 0.0), 4)
        for name, value in after.items()
        if value != before.get(name, 0.0) and not name.startswith("studyroom_http_")
    }
    return dict(sorted(grown.items()))


def _lag_buckets(text: str) -> dict[float, float]:
    """The event-loop lag histogram's cumulative buckets (upper bound in s → samples)."""
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(_LAG_BUCKET):
            bound, _, value = line[len(_LAG_BUCKET) :].partition('"} ')
            buckets[float(bound)] = float(value)
    return buckets


def lag_summary(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """The loop lag sampled between two scrapes: how many samples, and bucket bounds for p99
    and the worst (a histogram says "at most this", so these are upper bounds, in ms)."""
    grown = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = grown[-1][1] if grown else 0.0
    if not total:
        return {"samples": 0, "p99_le_ms": None, "max_le_ms": None}

    def at(share: float) -> float | None:
        bound = next(bound for bound, n in grown if n >= share * total)
        return None if math.isinf(bound) else bound * 1000  # past the top bucket: unbounded

    return {"samples": int(total), "p99_le_ms": at(0.99), "max_le_ms": at(1.0)}


def gc_summary(before: dict[str, float], after: dict[str, float]) -> dict[str, dict[str, float]]:
    """The garbage collector's pauses between two scrapes, by generation: how many, and
    their total in ms."""
    grown = added(before, after)
    summary: dict[str, dict[str, float]] = {}
    for generation in ("0", "1", "2"):
        labels = f'{{generation="{generation}"}}'
        count = grown.get(f"studyroom_gc_pause_seconds_count{labels}", 0.0)
        total = grown.get(f"studyroom_gc_pause_seconds_sum{labels}", 0.0)
        summary[generation] = {"pauses": count, "total_ms": round(total * 1000, 2)}
    return summary
