"""The ports behind live room state; ``memory://`` and ``redis://`` engines implement them.

Guarantees every engine gives (``tests/server/live/test_conformance_*.py`` check each one):

* **Order.** ``RoomLog.append`` assigns ``seq`` atomically with storing the event: one session's
  numbers are gap-free and identical for every reader on every process, within one epoch.
* **Retention.** A log keeps at least the last ``retention`` events of a session; older ones may
  be trimmed. ``window`` says what is held now.
* **Epochs.** A log that was lost (Redis flushed or restarted without persistence, the process
  restarted with the memory engine) is recreated with a new epoch and seeded from the durable
  transcript, so its numbers continue above any that were persisted.
* **Fan-out is at-most-once; the log is the truth.** Subscribers see events in ``seq`` order but
  may miss some (a dropped pub/sub connection); they detect the gap by ``seq`` and ``read`` the
  missing events from the log.
* **Tutor limits are atomic per counter and expire.** ``TutorLimits`` never spends a token twice
  or loses a charge across processes, and forgets counters once they no longer limit anything.
* **Gates are written through.** ``SessionGates`` caches what a join needs to know of a session;
  whoever changes it in the database writes the change after committing, and a fill from the
  database never overwrites such a write.
* **Outbox is at-least-once.** Every event appended with ``persist=True`` is handed out by
  ``TranscriptOutbox.take`` until acknowledged, to this process or (if it died) to another.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from protocol.events import UserRef
from protocol.sequence import LogWindow


class LiveStateUnavailable(Exception):
    """The live-state backend cannot be reached; the operation was not applied."""


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One room event as sent on the wire: ``data`` is the encoded frame, ``seq`` included."""

    seq: int
    data: str


# Given a session id, the highest seq the durable transcript holds for it (0 if none).
SeedSource = Callable[[int], Awaitable[int]]
Listener = Callable[[LoggedEvent], None]


class Subscription(Protocol):
    async def close(self) -> None: ...


class RoomLog(Protocol):
    async def append(
        self, session_id: int, body: str, *, persist: bool, queue_turn: bool = False
    ) -> LoggedEvent:
        """Number ``body`` (an encoded event without seq), store it, publish it.

        With ``queue_turn`` the event (an ``ask``) also joins the session's :class:`TutorState`
        in the same atomic step, so asks are answered in ``seq`` order across processes.

        Raises :class:`LiveStateUnavailable` when the backend is unreachable; the event was then
        not appended.
        """
        ...

    async def signal(self, session_id: int, frame: str) -> None:
        """Send an ephemeral frame to the session's subscribers everywhere, unnumbered.

        Listeners receive it as a ``LoggedEvent`` with ``seq == 0``; it is not stored, and a
        subscriber may miss it (typing indicators and the like).
        """
        ...

    async def window(self, session_id: int) -> LogWindow:
        """The epoch and the range of events held; creates an empty log if there is none."""
        ...

    async def read(
        self, session_id: int, after_seq: int, limit: int | None = None
    ) -> list[LoggedEvent]:
        """Held events with ``seq > after_seq`` in order, at most ``limit`` of them."""
        ...

    async def subscribe(self, session_id: int, listener: Listener) -> Subscription:
        """Call ``listener`` with this session's new events, in seq order, from any process.

        The listener runs on the event loop and must not block. One that raises is logged and
        changes nothing else: the append stands and the other listeners still get the event.
        """
        ...

    async def ping(self) -> None:
        """Raise :class:`LiveStateUnavailable` unless the backend answers."""
        ...

    async def close(self) -> None: ...


class Presence(Protocol):
    """Who is in each room, by connection, with expiry so a dead process leaves no ghosts.

    A user with several connections is one member: ``join`` reports only the first connection
    and ``leave``/``reap`` only the last. Exactly one caller learns of each such change, so
    exactly one ``presence`` event is emitted for it. Only ``leave`` and ``reap`` remove
    connections; a connection past its TTL stays until someone reaps it.
    """

    async def join(self, session_id: int, conn_id: str, user: UserRef) -> bool:
        """Add a connection; True if it is the user's first in this session."""
        ...

    async def leave(self, session_id: int, conn_id: str) -> UserRef | None:
        """Remove a connection; the user if it was their last, else None."""
        ...

    async def linger(self, session_id: int, conn_id: str, grace_s: float) -> None:
        """A connection closed: keep it counted for ``grace_s`` more (instead of its TTL), so a
        member back within it makes no leave/join pair. It goes when reaped after that."""
        ...

    async def heartbeat(self, session_id: int, conn_ids: list[str]) -> None:
        """Keep these connections alive for another TTL."""
        ...

    async def reap(self, session_id: int) -> list[UserRef]:
        """Drop expired connections; the users who thereby left."""
        ...

    async def members(self, session_id: int) -> list[UserRef]:
        """Users with at least one connection that has not been reaped, ordered by id.

        Removes nothing, not even expired connections: a caller that wants them gone calls
        ``reap`` first, and announces who left.
        """
        ...


@dataclass(frozen=True, slots=True)
class Gate:
    """What admitting a member to a session's room needs to know of the session."""

    ended: bool
    topic: str
    """The session's topic as room frames carry it, encoded as JSON (``null`` for none)."""


@dataclass(frozen=True, slots=True)
class GateCheck:
    gate: Gate
    removed: bool
    """Whether the user asked about was removed from the session since the gate was filled."""


class SessionGates(Protocol):
    """The admission facts of each session, so a room join needs no database round trip.

    A participant token proves membership when it was minted; the gate says what changed since:
    the session ended, its topic, members removed. Each fact is written through by whoever
    changes it, after the database commit, and wins over any fill: ``fill`` (from the database,
    on a miss) adds only what is missing, so a fill that read the database before a change
    cannot undo the change. A gate expires ``idle_ttl_s`` after it was filled, and the next join
    fills it again from the database, which is the truth.
    """

    async def check(self, session_id: int, user_id: int) -> GateCheck | None:
        """The session's gate and whether ``user_id`` was removed; None if it is not cached
        (in full: a write-through of one fact does not make a gate)."""
        ...

    async def fill(self, session_id: int, gate: Gate) -> None:
        """Cache ``gate`` from the database, keeping every fact already there."""
        ...

    async def end(self, session_id: int) -> None:
        """The session has ended (committed); joins are refused from now on."""
        ...

    async def set_topic(self, session_id: int, topic: str) -> None:
        """The session's topic changed (committed); ``topic`` as :attr:`Gate.topic`."""
        ...

    async def remove_member(self, session_id: int, user_id: int) -> None:
        """The user was removed from the session (committed); their joins are refused."""
        ...

    async def restore_member(self, session_id: int, user_id: int) -> None:
        """The user is a member again (committed), after being removed."""
        ...


@dataclass(frozen=True, slots=True)
class Entry:
    """What a connection entering a room learns, all read in one atomic step."""

    window: LogWindow
    """The room log as it was just before the connection joined."""
    joined: LoggedEvent | None
    """The ``presence join`` appended (persisted) when this was the user's first connection."""
    members: list[UserRef]
    """Present after the join, ordered by id."""


@dataclass(frozen=True, slots=True)
class Departures:
    """Users whose last, expired connection an entry reaped instead of entering: the caller
    announces them (so their ``leave`` precedes the join) and enters again."""

    users: list[UserRef]


class RoomDoor(Protocol):
    """The way into a room: what a join does to presence and reads of the log, in one step."""

    async def enter(
        self, session_id: int, conn_id: str, user: UserRef, join_body: str
    ) -> Entry | Departures:
        """Reap expired connections; if that made anyone leave, return them and do nothing
        else. Otherwise read the window, add the connection to presence and, if it is the
        user's first, append ``join_body`` (an encoded event without seq); then list the
        members. Creates the log if there is none."""
        ...


class TokenRevocations(Protocol):
    """Access tokens revoked before they expire (a logout), seen by every process at once."""

    async def revoke(self, token_id: str, ttl_s: int) -> None:
        """Refuse the token ``token_id`` from now on; it is forgotten after ``ttl_s`` (when the
        token would have expired anyway)."""
        ...

    async def revoked(self, token_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class OutboxItem:
    session_id: int
    seq: int
    data: str
    receipt: str


class TranscriptOutbox(Protocol):
    async def take(self, max_items: int, wait_s: float) -> list[OutboxItem]:
        """Up to ``max_items`` unacknowledged events, waiting up to ``wait_s`` for the first.

        Released events come first and without waiting; a ``release`` during the wait ends it.
        """
        ...

    async def ack(self, items: list[OutboxItem]) -> None:
        """These events are durable; never hand them out again."""
        ...

    async def release(self, items: list[OutboxItem]) -> None:
        """These events could not be stored; hand them out again later."""
        ...


class TutorState(Protocol):
    """The tutor's shared state per session: unanswered asks, the lease that lets one process
    answer them, cancel requests, quiz answer keys, who answered which quiz, and the cards of
    the learners reviewed in the session.

    Asks join the queue when appended with ``queue_turn=True`` and are answered lowest seq
    first. A process answers a session's asks only while it holds the session's lease; a
    process that dies loses it after its TTL, and the next holder finds the ask that was
    ``started`` but never removed, and reports it interrupted.
    """

    async def head(self, session_id: int) -> LoggedEvent | None:
        """The oldest unanswered ask (its frame), or None."""
        ...

    async def remove(self, session_id: int, seq: int) -> None:
        """The ask with this seq is answered (or given up); also forgets its start mark."""
        ...

    async def acquire(self, session_id: int, owner: str, ttl_s: float) -> bool:
        """Take the session's lease if nobody holds it; True if ``owner`` holds it now."""
        ...

    async def renew(self, session_id: int, owner: str, ttl_s: float) -> bool:
        """Extend the lease; False if ``owner`` no longer holds it."""
        ...

    async def release(self, session_id: int, owner: str) -> None:
        """Give the lease up, if ``owner`` holds it."""
        ...

    async def mark_started(self, session_id: int, seq: int) -> None:
        """Record that the ask with this seq is being answered."""
        ...

    async def started(self, session_id: int) -> int | None:
        """The seq marked started and not yet removed, if any."""
        ...

    async def request_cancel(self, session_id: int, turn_id: str) -> None:
        """Ask whichever process runs (or will run) this turn to stop it."""
        ...

    async def cancel_requested(self, session_id: int, turn_id: str) -> bool: ...

    async def put_quiz(self, session_id: int, quiz_id: str, key: str) -> None:
        """Keep a quiz's answer key (JSON) where any process can grade answers to it."""
        ...

    async def get_quiz(self, session_id: int, quiz_id: str) -> str | None: ...

    async def claim_answer(self, session_id: int, quiz_id: str, user_id: int, choice: int) -> bool:
        """Record ``user_id``'s answer to a quiz; True only for their first, on any process.

        Atomic: of concurrent claims by one user on one quiz exactly one returns True, and a
        later claim never replaces the recorded choice. Claims expire with the session's quizzes.
        """
        ...

    async def put_card(self, session_id: int, card_id: str, card: str) -> None:
        """Keep a learner's spaced-repetition card (JSON) as this session last reviewed it."""
        ...

    async def get_card(self, session_id: int, card_id: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class UserAsks:
    """The token bucket of one user's asks, across sessions."""

    user_id: int


@dataclass(frozen=True, slots=True)
class SessionAsks:
    """The token bucket of one session's asks, whoever asks."""

    session_id: int


@dataclass(frozen=True, slots=True)
class UserTokens:
    """Model tokens one user's asks spent on one UTC day (days since the epoch)."""

    user_id: int
    day: int


@dataclass(frozen=True, slots=True)
class SessionTokens:
    """Model tokens one session's turns spent."""

    session_id: int


AskBucket = UserAsks | SessionAsks
TokenBudget = UserTokens | SessionTokens


class TutorLimits(Protocol):
    """Counters that admit asks, shared by every process of a deployment.

    Each call is atomic on its own counter: concurrent ``take`` calls on one bucket never spend
    the same token twice, concurrent ``charge`` calls never lose an increment. ``now`` is
    wall-clock seconds from the caller (every process must pass the same kind of clock); a
    bucket never refills for a ``now`` earlier than one it has seen. Nothing grows without
    bound: a bucket is forgotten once it has refilled (a missing bucket is a full one), a
    session's budget after the session's idle TTL since its last charge, a user's daily budget
    after the day is over.
    """

    async def take(self, bucket: AskBucket, now: float, rate_per_s: float, burst: int) -> bool:
        """Spend one token if the bucket has one (refilled at ``rate_per_s`` up to ``burst``);
        False, spending nothing, otherwise."""
        ...

    async def give_back(self, bucket: AskBucket, now: float, rate_per_s: float, burst: int) -> None:
        """Return one token taken by ``take`` (the ask was refused further on); never above
        ``burst``."""
        ...

    async def spent(self, budget: TokenBudget) -> int:
        """Tokens charged to the budget and not yet expired."""
        ...

    async def charge(self, budget: TokenBudget, tokens: int) -> int:
        """Add ``tokens`` to the budget (negative to give some back); the new total."""
        ...

    async def reserve(self, budget: TokenBudget, tokens: int, ceiling: int) -> bool:
        """Add ``tokens`` to the budget if the total stays within ``ceiling``; False, adding
        nothing, otherwise. Concurrent reservations, from any process, never pass it together.
        """
        ...


@dataclass(frozen=True, slots=True)
class LiveState:
    """The engines a process uses, built together from one URL."""

    log: RoomLog
    presence: Presence
    outbox: TranscriptOutbox
    tutor: TutorState
    limits: TutorLimits
    gates: SessionGates
    door: RoomDoor
    revocations: TokenRevocations
