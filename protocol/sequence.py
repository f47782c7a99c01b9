"""Ordering and resume rules for a room's event sequence.

Within one *epoch* of a session's log, ``seq`` starts after the epoch's seed and grows by exactly
one per event. A log that is lost (say, a Redis restart without persistence) starts a new epoch;
numbers from an old epoch are never accepted as a continuation of a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class LogWindow:
    """What a room log holds right now: events ``first_seq..head`` of ``epoch``.

    An empty log has ``first_seq == head + 1``.
    """

    epoch: str
    first_seq: int
    head: int


@dataclass(frozen=True, slots=True)
class ResumePlan:
    resumed: bool
    # Replay every event with seq > replay_after; None means replay nothing.
    replay_after: int | None


def plan_resume(last_seq: int | None, window: LogWindow, epoch: str | None = None) -> ResumePlan:
    """Decide what a (re)connecting member gets before live events.

    - No ``last_seq``: a fresh join; nothing is replayed and ``resumed`` is false.
    - ``epoch`` given and not the log's: the client's numbers mean nothing here.
    - ``last_seq`` ahead of the head: it came from an earlier epoch of this log.
    - ``last_seq`` older than what is held (``first_seq - 1``): events were trimmed.
    Otherwise every event after ``last_seq`` is replayed and ``resumed`` is true.
    """
    if last_seq is None:
        return ResumePlan(resumed=False, replay_after=None)
    if epoch is not None and epoch != window.epoch:
        return ResumePlan(resumed=False, replay_after=None)
    if last_seq > window.head or last_seq < window.first_seq - 1:
        return ResumePlan(resumed=False, replay_after=None)
    return ResumePlan(resumed=True, replay_after=last_seq)


class Offer(Enum):
    DELIVER = "deliver"
    DUPLICATE = "duplicate"
    GAP = "gap"


class SeqGate:
    """Tracks the next expected ``seq`` of one stream and classifies what arrives.

    A consumer delivers on ``DELIVER``, drops ``DUPLICATE`` and, on ``GAP``, fetches the events
    after :attr:`last` before delivering the one that revealed the gap.
    """

    __slots__ = ("last",)

    def __init__(self, last: int) -> None:
        self.last = last

    def offer(self, seq: int) -> Offer:
        if seq <= self.last:
            return Offer.DUPLICATE
        if seq == self.last + 1:
            self.last = seq
            return Offer.DELIVER
        return Offer.GAP

    def advance(self, seq: int) -> None:
        """Record that ``seq`` was delivered through another path (a replay or a gap fill)."""
        if seq != self.last + 1:
            raise ValueError(f"seq {seq} does not follow {self.last}")
        self.last = seq
