"""Concurrent identical calls made once: every caller with the same key shares one result.

A reconnect storm brings many members of a room back at once with the same ``last_seq``; each
would read the same events from the log. :class:`SingleFlight` runs the first caller's call in
a task of its own and lets the others with that key wait on it:

- every waiter gets the same result object (share it read-only) or the same exception;
- a waiter that is cancelled stops waiting, and nobody else notices; the call itself is
  cancelled only when no waiter is left;
- nothing is kept once the call is over: the next caller with that key calls again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(eq=False)
class _Flight(Generic[V]):
    task: asyncio.Task[V]
    waiters: int = 0


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._flights: dict[K, _Flight[V]] = {}

    @property
    def in_flight(self) -> int:
        """Calls running now."""
        return len(self._flights)

    async def do(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        """The result of ``call()``, or of the call with ``key`` already running."""
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight(asyncio.create_task(self._run(key, call)))
            # Retrieved here too: a call failing after its last waiter left is not an error.
            flight.task.add_done_callback(_retrieve)
            self._flights[key] = flight
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if not flight.task.done() and flight.waiters == 1:
                # The last one waiting: nobody wants the answer any more. Forgotten at once,
                # so a caller arriving before the task has ended does not share its cancel.
                if self._flights.get(key) is flight:
                    del self._flights[key]
                flight.task.cancel()
            raise
        finally:
            flight.waiters -= 1

    async def _run(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        try:
            return await call()
        finally:
            # Before the waiters wake: a caller from now on starts a call of its own.
            flight = self._flights.get(key)
            if flight is not None and flight.task is asyncio.current_task():
                del self._flights[key]


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
