"""Ordering and resume rules for a room's event sequence.

Within one *epoch* of a session's log, ``seq`` starts after the epoch's seed and grows by exactly
one per event. A log that is lost (say, a Redis restart without persistence) starts a new epoch;
numbers from an old epoch are never accepted as a continuation of a new one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Sequenced(Protocol):
    @property
    def seq(self) -> int: ...


E = TypeVar("E", bound=Sequenced)


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


@dataclass(frozen=True, slots=True)
class Replay(Generic[E]):
    """What a (re)connecting member is told and sent before live events."""

    resumed: bool
    events: list[E]


def complete_replay(plan: ResumePlan, window: LogWindow, read: Iterable[E]) -> Replay[E]:
    """The replay of ``plan``, given what the log returned for ``plan.replay_after``.

    Events past the window's head are left to the live stream. The replay must be exactly the
    events ``replay_after + 1 .. head``: if any is missing the log was trimmed between the
    window and the read, which is treated like a ``last_seq`` too old to resume.
    """
    if plan.replay_after is None:
        return Replay(plan.resumed, [])
    events = [event for event in read if event.seq <= window.head]
    expected = range(plan.replay_after + 1, window.head + 1)
    if len(events) != len(expected) or any(
        event.seq != seq for event, seq in zip(events, expected, strict=True)
    ):
        return Replay(False, [])
    return Replay(plan.resumed, events)


@dataclass(frozen=True, slots=True)
class Rejoined:
    """A client's next step after a ``welcome``."""

    # Reload the persisted transcript after this seq, up to the welcome's head; None: don't.
    reload_after: int | None
    # The seq the client has seen once that is done: later frames at or below it are repeats.
    last_seq: int


def plan_rejoin(last_seq: int | None, head: int, resumed: bool) -> Rejoined:
    """What a client does with a ``welcome`` (``seq`` = ``head``) given the ``last_seq`` it sent.

    A fresh join starts at the head. A resume the server could not replay (``resumed`` false)
    reloads what was kept from the transcript. A replayed resume goes on from ``last_seq``: the
    replay follows the welcome.
    """
    if last_seq is None:
        return Rejoined(None, head)
    if not resumed:
        return Rejoined(last_seq, head)
    return Rejoined(None, last_seq)


def is_new(last_seq: int | None, seq: int) -> bool:
    """Whether a consumer that has seen up to ``last_seq`` (None: nothing yet) should take
    ``seq``; anything at or below what it has seen is a repeat."""
    return last_seq is None or seq > last_seq
