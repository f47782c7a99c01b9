"""Session gates in process memory (``memory://``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from server.live.ports import Gate, GateCheck


@dataclass
class _Facts:
    expires_at: float
    ended: bool | None = None
    topic: str | None = None
    removed: set[int] = field(default_factory=set)


class MemorySessionGates:
    def __init__(self, *, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._facts: dict[int, _Facts] = {}

    def _held(self, session_id: int) -> _Facts | None:
        facts = self._facts.get(session_id)
        if facts is not None and facts.expires_at <= self._clock():
            del self._facts[session_id]
            return None
        return facts

    def _written(self, session_id: int) -> _Facts:
        # A gate lives one TTL from its first fact, however often it is written: a fact that
        # was never written through (the write failed) is then read again from the database.
        facts = self._held(session_id)
        if facts is None:
            self._sweep()
            facts = self._facts[session_id] = _Facts(self._clock() + self._ttl_s)
        return facts

    def _sweep(self) -> None:
        # Bounded by the sessions joined within one TTL; expired ones go on the next write.
        now = self._clock()
        for session_id in [s for s, f in self._facts.items() if f.expires_at <= now]:
            del self._facts[session_id]

    async def check(self, session_id: int, user_id: int) -> GateCheck | None:
        facts = self._held(session_id)
        if facts is None or facts.ended is None or facts.topic is None:
            return None
        return GateCheck(Gate(facts.ended, facts.topic), user_id in facts.removed)

    async def fill(self, session_id: int, gate: Gate) -> None:
        facts = self._written(session_id)
        if facts.ended is None:
            facts.ended = gate.ended
        if facts.topic is None:
            facts.topic = gate.topic

    async def end(self, session_id: int) -> None:
        self._written(session_id).ended = True

    async def set_topic(self, session_id: int, topic: str) -> None:
        self._written(session_id).topic = topic

    async def remove_member(self, session_id: int, user_id: int) -> None:
        self._written(session_id).removed.add(user_id)

    async def restore_member(self, session_id: int, user_id: int) -> None:
        self._written(session_id).removed.discard(user_id)
