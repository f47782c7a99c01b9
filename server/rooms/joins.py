"""How many room-socket joins one process works on at once (``STUDYROOM_WS_JOINS_MAX``).

When every socket of a process drops and comes back at once (a load balancer failing over, a
network blip), each one's join reads live state and its replay. Unbounded, thousands of joins
would share the event loop and the Redis pool with the live rooms, and all of them would be
slow together. The limiter lets ``max_joins`` through; a join past them waits (FIFO, at most
``max_joins`` of them, for at most ``wait_s``) for a slot to free, and is otherwise refused:
the socket is closed with 1013 and a reason carrying ``retry_after_ms``.

A waiting join costs an open socket and a future, no work: the live rooms do not feel it, and
a burst only slightly past the bound gets in without a client round trip.

The hint grows with how far over the bound the process has been lately (the refusals of about
the last second, per slot) and is jittered, so the refused clients of a storm come back spread
over time instead of in one wave.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from protocol.errors import with_retry_hint
from server.metrics import Metrics

# The hint before jitter: BASE_MS when the process is just at its bound, growing with the
# recent refusals per slot, never above MAX_MS. Jitter spreads it over [0.5, 1.5) of that.
RETRY_BASE_MS = 100
RETRY_MAX_MS = 5_000
# Refusals count for about this long (an exponential decay).
PRESSURE_DECAY_S = 1.0


@dataclass(frozen=True)
class Busy:
    """A refused join: close the socket with 1013 and :attr:`reason`."""

    retry_after_ms: int

    @property
    def reason(self) -> str:
        return with_retry_hint("busy", self.retry_after_ms)


class JoinSlot:
    """One join in progress. :meth:`release` frees it; calling it again does nothing."""

    __slots__ = ("_limiter",)

    def __init__(self, limiter: JoinLimiter) -> None:
        self._limiter: JoinLimiter | None = limiter

    def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._release()


class RetryPressure:
    """How far over its bound the process has been lately, as a retry hint.

    ``clock`` is monotonic seconds and ``rng`` draws from [0, 1); both are parameters so the
    policy is tested as values.
    """

    def __init__(
        self,
        slots: int,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._slots = slots
        self._clock = clock
        self._rng = rng
        self._level = 0.0
        self._stamp = clock()

    def refused(self) -> int:
        """Count one refusal; the milliseconds the refused client should wait."""
        now = self._clock()
        self._level = self._level * math.exp(-(now - self._stamp) / PRESSURE_DECAY_S) + 1.0
        self._stamp = now
        delay = min(RETRY_MAX_MS, RETRY_BASE_MS * (1.0 + self._level / self._slots))
        return round(delay * (0.5 + self._rng()))


class JoinLimiter:
    """At most ``max_joins`` joins in progress; see the module docstring.

    :meth:`acquire` returns a :class:`JoinSlot` (release it once the welcome and replay are
    handed to the socket's writer, and in any case when the join ends) or :class:`Busy`.
    Cancelling a waiting ``acquire`` takes no slot and gives up its place.
    """

    def __init__(
        self,
        max_joins: int,
        wait_s: float,
        metrics: Metrics,
        *,
        pressure: RetryPressure | None = None,
    ) -> None:
        self._max = max_joins
        self._wait_s = wait_s
        self._metrics = metrics
        self._pressure = pressure or RetryPressure(max_joins)
        self._active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_progress(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> JoinSlot | Busy:
        if self._active < self._max and not self._waiters:
            self._active += 1
            self._metrics.ws_joins_in_progress.set(self._active)
            return JoinSlot(self)
        if self._wait_s <= 0 or len(self._waiters) >= self._max:
            return self._refuse()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait((waiter,), timeout=self._wait_s)
        except asyncio.CancelledError:
            self._give_up(waiter)
            raise
        if waiter.done():
            return JoinSlot(self)  # handed over by a release: counted already
        self._give_up(waiter)
        return self._refuse()

    def _give_up(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():
            # A slot was handed over just as the waiter stopped waiting: pass it on.
            self._release()
            return
        self._waiters.remove(waiter)
        waiter.cancel()

    def _release(self) -> None:
        # FIFO hand-over: the slot stays taken and goes to the oldest waiter.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._active -= 1
        self._metrics.ws_joins_in_progress.set(self._active)

    def _refuse(self) -> Busy:
        self._metrics.ws_joins_refused.inc()
        return Busy(self._pressure.refused())
