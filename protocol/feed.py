"""A room's ordering decisions as plain values: what to do with each logged event that arrives.

A room's events reach a process in seq order but possibly with holes (pub/sub is at-most-once)
and, while the room is being opened, before the process knows where the log stands. A
:class:`RoomFeed` is offered each arriving event and answers with an :class:`Action`; it holds
what cannot be delivered yet and, once the caller has read the missing events back from the log
(:meth:`RoomFeed.filled`), says what to deliver and whether the room can go on. It does no I/O:
the caller subscribes, reads the log and pushes to members.

A :class:`MemberCursor` is the same rule seen from one member's socket: what was written
already (a replay and the live stream overlap) and after which seq the session has ended.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from protocol.sequence import Sequenced

E = TypeVar("E", bound=Sequenced)


class Action(Enum):
    """What the caller does with an offered event."""

    DELIVER = "deliver"  # deliver it now
    DROP = "drop"  # delivered already (or the feed has restarted): nothing to do
    HOLD = "hold"  # the feed keeps it; it comes back in a later Release
    FILL = "fill"  # held; read the log after ``fill_after`` and hand the result to ``filled``


class Then(Enum):
    """How a room goes on after a :class:`Release`."""

    LIVE = "live"  # offer the next events as they come
    FILL = "fill"  # read the log after ``fill_after`` and hand the result to ``filled``
    RESTART = "restart"  # the log no longer holds what was missed: members must rejoin


@dataclass(frozen=True, slots=True)
class Release(Generic[E]):
    """Events to deliver, in this order, then how the room goes on."""

    deliver: list[E]
    then: Then


class _State(Enum):
    OPENING = "opening"
    LIVE = "live"
    FILLING = "filling"
    RESTARTED = "restarted"


class RoomFeed(Generic[E]):
    """One room's stream of logged events, delivered exactly once and in seq order.

    - Before :meth:`start` (the log's head is not known yet) everything is held.
    - The next seq is delivered; one at or below the last delivered is dropped.
    - A seq past the next one reveals a hole: the event is held and the caller is asked once to
      fill after :attr:`fill_after`; events arriving meanwhile are held too.
    - After a fill, held events that follow on are delivered; a held event that still does not
      follow on means the log no longer holds the events in between: the feed restarts, and
      drops everything from then on.
    """

    __slots__ = ("_held", "_state", "last")

    def __init__(self) -> None:
        # The last seq delivered (meaningful once started).
        self.last = 0
        self._held: list[E] = []
        self._state = _State.OPENING

    @property
    def fill_after(self) -> int:
        """Where a fill reads from: every event with a seq above this one."""
        return self.last

    @property
    def restarted(self) -> bool:
        return self._state is _State.RESTARTED

    def offer(self, event: E) -> Action:
        seq = event.seq
        if self._state is _State.LIVE:
            if seq == self.last + 1:
                self.last = seq
                return Action.DELIVER
            if seq <= self.last:
                return Action.DROP
            self._state = _State.FILLING
            self._held.append(event)
            return Action.FILL
        if self._state is _State.RESTARTED:
            return Action.DROP
        self._held.append(event)
        return Action.HOLD

    def start(self, head: int) -> Release[E]:
        """The log's head when the room opened: events up to it were before this room."""
        if self._state is not _State.OPENING:
            raise ValueError(f"a feed starts once (it is {self._state.value})")
        self.last = head
        return self._release(hole=Then.FILL)

    def filled(self, missing: Iterable[E]) -> Release[E]:
        """The log's events after :attr:`fill_after` (possibly fewer, or none: it was trimmed,
        restarted or could not be read)."""
        if self._state is not _State.FILLING:
            raise ValueError(f"no fill was asked for (the feed is {self._state.value})")
        deliver: list[E] = []
        for event in missing:
            if event.seq == self.last + 1:
                self.last = event.seq
                deliver.append(event)
        release = self._release(hole=Then.RESTART)
        deliver.extend(release.deliver)
        return Release(deliver, release.then)

    def restart(self) -> None:
        """Stop for good (say, the log was lost): every later offer is dropped."""
        self._state = _State.RESTARTED
        self._held = []

    def _release(self, *, hole: Then) -> Release[E]:
        held, self._held = self._held, []
        deliver: list[E] = []
        for index, event in enumerate(held):
            if event.seq <= self.last:
                continue
            if event.seq == self.last + 1:
                self.last = event.seq
                deliver.append(event)
                continue
            if hole is Then.RESTART:
                self.restart()
            else:
                self._state = _State.FILLING
                self._held = held[index:]
            return Release(deliver, hole)
        self._state = _State.LIVE
        return Release(deliver, Then.LIVE)


class MemberCursor:
    """What one member's socket was written up to, and where its session ends.

    ``last`` is the highest seq written: anything at or below it is a duplicate (a replay and
    the live stream overlap). Once the seq given to :meth:`end_after` (``session.ended``) is
    written, the socket is to be closed.
    """

    __slots__ = ("end", "last")

    def __init__(self, last: int = 0) -> None:
        self.last = last
        self.end: int | None = None

    def advance(self, seq: int) -> bool:
        """Record that ``seq`` was written (callers skip ``seq <= last``); True once the
        session has ended with it."""
        self.last = seq
        end = self.end
        return end is not None and seq >= end

    def end_after(self, seq: int) -> None:
        """The session ends with the event ``seq``."""
        self.end = seq

    @property
    def ended(self) -> bool:
        return self.end is not None and self.last >= self.end
