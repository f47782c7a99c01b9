"""studyroom's own counters from its ``/metrics``, and what a phase added to them.

They say what the server did while a phase ran (events appended, frames queued, sockets closed
by code), which tells where its CPU went; the peers have no such endpoint.
"""

from __future__ import annotations

import httpx

# The samples worth keeping: counters and histogram totals. Gauges are a level, not work done.
_KEPT = ("_total", "_count", "_sum")


async def counters(port: int) -> dict[str, float]:
    """Every counter sample (``name{labels}`` → value) the server at ``port`` exposes."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        text = (await http.get("/metrics")).text
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
