"""The event-loop lag monitor and the garbage collector's pauses: what holds the loop shows."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest
from prometheus_client import CollectorRegistry, Histogram

from server.gc_pauses import GcPauses
from server.loop_lag import LOG_EVERY_S, LoopLagMonitor


def _histogram() -> Histogram:
    return Histogram("lag_seconds", "lag", buckets=(0.01, 0.1, 1), registry=CollectorRegistry())


def _samples(h: Histogram) -> dict[str, float]:
    return {
        f"{s.name}{s.labels.get('le', '')}": s.value
        for metric in h.collect()
        for s in metric.samples
    }


async def test_a_blocked_loop_is_measured_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    h = _histogram()
    monitor = LoopLagMonitor(h, interval_s=0.01, warn_s=0.1)
    monitor.start()
    try:
        await asyncio.sleep(0.05)
        with caplog.at_level(logging.WARNING, logger="server.loop_lag"):
            time.sleep(0.3)  # what a synchronous burst does to every task on the loop
            await asyncio.sleep(0.05)
    finally:
        await monitor.close()
    samples = _samples(h)
    assert samples["lag_seconds_count"] >= 3
    # The sample taken across the blocking call landed above 0.1 s; the quiet ones below.
    assert samples["lag_seconds_bucket1.0"] - samples["lag_seconds_bucket0.1"] >= 1
    assert samples["lag_seconds_bucket0.01"] >= 1
    assert samples["lag_seconds_sum"] >= 0.25
    assert [r.getMessage() for r in caplog.records if "ran" in r.getMessage()] != []


def test_warnings_are_spaced_out(caplog: pytest.LogCaptureFixture) -> None:
    monitor = LoopLagMonitor(_histogram(), interval_s=0.01, warn_s=0.1)
    with caplog.at_level(logging.WARNING, logger="server.loop_lag"):
        monitor.record(0.5, now=100.0)
        monitor.record(0.5, now=101.0)  # the same spell: counted, not logged again
        monitor.record(0.05, now=200.0)  # below the threshold
        monitor.record(0.5, now=100.0 + LOG_EVERY_S)
    assert len(caplog.records) == 2
    assert "500 ms late" in caplog.records[0].getMessage()


def test_garbage_collector_pauses_are_timed_by_generation() -> None:
    h = Histogram("gc_seconds", "gc", ["generation"], registry=CollectorRegistry())
    pauses = GcPauses(h)
    pauses.start()
    try:
        gc.collect()
        gc.collect(0)
    finally:
        pauses.close()
    gc.collect()  # not counted: the callback is gone
    counts = {
        s.labels["generation"]: s.value
        for metric in h.collect()
        for s in metric.samples
        if s.name.endswith("_count")
    }
    assert counts["2"] == 1 and counts["0"] >= 1
