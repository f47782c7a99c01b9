"""How long the cyclic garbage collector holds the process: every socket waits that long.

CPython's collector runs in the middle of whatever allocated last, and a full (oldest
generation) collection walks every tracked object: with thousands of connections that is
milliseconds to tens of milliseconds with nothing else running. The pauses go to the
``studyroom_gc_pause_seconds`` histogram by generation, beside the event-loop lag.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram


class GcPauses:
    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._started = 0.0

    def start(self) -> None:
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started:
            self._histogram.labels(str(info["generation"])).observe(
                time.perf_counter() - self._started
            )
            self._started = 0.0

    def close(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
