"""How late the event loop runs what is ready: the wait every frame and reply adds.

A task asks to be woken every ``interval_s`` and measures how much later than asked it was.
That delay is what any ready callback waited at that moment (a frame to write, a Redis reply
to read), so it is the loop's share of every latency the process adds. A burst of synchronous
work (a large batch handled in one go, a blocking call) shows as a spike here long before it
shows as CPU, which is why latency can give out while the CPU still has room.

Samples go to the ``studyroom_event_loop_lag_seconds`` histogram; one past ``warn_s`` is
logged, at most once every :data:`LOG_EVERY_S`, so an operator can find when it happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import Histogram

log = logging.getLogger(__name__)

# A stalled loop tends to stall again at once: one line per spell, not one per sample.
LOG_EVERY_S = 10.0


class LoopLagMonitor:
    def __init__(self, histogram: Histogram, *, interval_s: float, warn_s: float) -> None:
        self._histogram = histogram
        self._interval_s = interval_s
        self._warn_s = warn_s
        self._task: asyncio.Task[None] | None = None
        self._logged_at = float("-inf")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self._interval_s)
            woke = loop.time()
            self.record(max(0.0, woke - asked - self._interval_s), woke)

    def record(self, lag_s: float, now: float) -> None:
        """One sample: the loop woke this task ``lag_s`` later than it asked, at ``now``."""
        self._histogram.observe(lag_s)
        if lag_s >= self._warn_s and now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.warning(
                "event loop ran %.0f ms late: something held it (every socket waited as long)",
                lag_s * 1000,
            )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
