"""Coalescing streamed text into few room events.

The first piece goes out at once (time to first token is what people notice); after that, text
is sent at most every ``interval_s`` or as soon as ``max_chars`` are waiting, so a long answer is
tens of frames per member rather than one per token.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Coalescer:
    def __init__(
        self, interval_s: float, max_chars: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval_s
        self._max_chars = max_chars
        self._clock = clock
        self._parts: list[str] = []
        self._size = 0
        self._sent_any = False
        self._last_flush = 0.0

    def add(self, text: str) -> bool:
        """Buffer ``text``; True if the buffer should be flushed right now."""
        if not text:
            return False
        self._parts.append(text)
        self._size += len(text)
        return not self._sent_any or self._size >= self._max_chars or self.due_in() == 0.0

    def due_in(self) -> float | None:
        """Seconds until the buffered text is due (0.0: now), or None if nothing is buffered."""
        if not self._parts:
            return None
        return max(0.0, self._last_flush + self._interval - self._clock())

    def take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        self._size = 0
        if text:
            self._sent_any = True
            self._last_flush = self._clock()
        return text
