"""The in-process engine (``memory://``): one process only, nothing survives a restart."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from protocol.events import UserRef, encode_with_seq
from protocol.sequence import LogWindow
from server.live.memory_door import MemoryRoomDoor
from server.live.memory_gates import MemorySessionGates
from server.live.memory_revocations import MemoryTokenRevocations
from server.live.ports import (
    AskBucket,
    Listener,
    LiveState,
    LoggedEvent,
    OutboxItem,
    SeedSource,
    SessionTokens,
    Subscription,
    TokenBudget,
    UserTokens,
)

logger = logging.getLogger(__name__)


@dataclass
class _Log:
    epoch: str
    head: int
    events: deque[LoggedEvent]
    listeners: list[Listener] = field(default_factory=list)
    touched: float = 0.0

    def first_seq(self) -> int:
        return self.events[0].seq if self.events else self.head + 1

    def notify(self, session_id: int, event: LoggedEvent) -> None:
        # A listener's bug is its own: the event is stored and the others still get it.
        for listener in tuple(self.listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("a listener of session %s failed", session_id)


class _MemorySubscription:
    def __init__(self, log: _Log, listener: Listener) -> None:
        self._log = log
        self._listener = listener

    async def close(self) -> None:
        if self._listener in self._log.listeners:
            self._log.listeners.remove(self._listener)


class MemoryRoomLog:
    def __init__(
        self,
        *,
        retention: int,
        seed: SeedSource,
        outbox: MemoryOutbox,
        turns: MemoryTutorState,
        idle_ttl_s: float = 7 * 24 * 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idle_ttl_s = idle_ttl_s
        self._clock = clock
        self._next_sweep = clock() + idle_ttl_s
        self._retention = retention
        self._seed = seed
        self._outbox = outbox
        self._turns = turns
        self._logs: dict[int, _Log] = {}
        self._creating: dict[int, asyncio.Lock] = {}

    async def _log(self, session_id: int) -> _Log:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        log = self._logs.get(session_id)
        if log is not None:
            log.touched = now
            return log
        lock = self._creating.setdefault(session_id, asyncio.Lock())
        async with lock:
            log = self._logs.get(session_id)
            if log is None:
                head = await self._seed(session_id)
                log = _Log(secrets.token_hex(8), head, deque(maxlen=self._retention))
                log.touched = self._clock()
                self._logs[session_id] = log
        self._creating.pop(session_id, None)
        return log

    async def append(
        self, session_id: int, body: str, *, persist: bool, queue_turn: bool = False
    ) -> LoggedEvent:
        log = await self._log(session_id)
        # From here to the end there is no await: numbering, storing and publishing are atomic.
        log.head += 1
        event = LoggedEvent(log.head, encode_with_seq(log.head, body))
        log.events.append(event)
        if persist:
            self._outbox.put(session_id, event)
        if queue_turn:
            self._turns.put(session_id, event)
        log.notify(session_id, event)
        return event

    def _sweep(self, now: float) -> None:
        """Forget logs nobody listens to or wrote to for ``idle_ttl_s``, as Redis expires them."""
        self._next_sweep = now + min(self._idle_ttl_s, 3600.0)
        for session_id, log in tuple(self._logs.items()):
            if not log.listeners and now - log.touched >= self._idle_ttl_s:
                del self._logs[session_id]
                self._turns.forget(session_id)

    async def signal(self, session_id: int, frame: str) -> None:
        log = self._logs.get(session_id)
        if log is not None:
            log.notify(session_id, LoggedEvent(0, frame))

    async def window(self, session_id: int) -> LogWindow:
        log = await self._log(session_id)
        return LogWindow(log.epoch, log.first_seq(), log.head)

    async def read(
        self, session_id: int, after_seq: int, limit: int | None = None
    ) -> list[LoggedEvent]:
        log = await self._log(session_id)
        start = max(0, after_seq + 1 - log.first_seq())
        stop = len(log.events) if limit is None else min(len(log.events), start + limit)
        return [log.events[i] for i in range(start, stop)]

    async def subscribe(self, session_id: int, listener: Listener) -> Subscription:
        log = await self._log(session_id)
        log.listeners.append(listener)
        return _MemorySubscription(log, listener)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._logs.clear()


@dataclass
class _Conn:
    user: UserRef
    expires_at: float


class MemoryPresence:
    def __init__(self, *, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._clock = clock
        self._rooms: dict[int, dict[str, _Conn]] = {}

    def _user_conns(self, room: dict[str, _Conn], user_id: int) -> int:
        return sum(1 for conn in room.values() if conn.user.id == user_id)

    async def join(self, session_id: int, conn_id: str, user: UserRef) -> bool:
        room = self._rooms.setdefault(session_id, {})
        first = self._user_conns(room, user.id) == 0
        room[conn_id] = _Conn(user, self._clock() + self._ttl)
        return first

    async def leave(self, session_id: int, conn_id: str) -> UserRef | None:
        room = self._rooms.get(session_id, {})
        conn = room.pop(conn_id, None)
        if conn is None:
            return None
        last = self._user_conns(room, conn.user.id) == 0
        if not room:
            self._rooms.pop(session_id, None)
        return conn.user if last else None

    async def linger(self, session_id: int, conn_id: str, grace_s: float) -> None:
        conn = self._rooms.get(session_id, {}).get(conn_id)
        if conn is not None:
            conn.expires_at = self._clock() + grace_s

    async def heartbeat(self, session_id: int, conn_ids: list[str]) -> None:
        room = self._rooms.get(session_id, {})
        expires = self._clock() + self._ttl
        for conn_id in conn_ids:
            if conn_id in room:
                room[conn_id].expires_at = expires

    async def reap(self, session_id: int) -> list[UserRef]:
        room = self._rooms.get(session_id, {})
        now = self._clock()
        expired = [cid for cid, conn in room.items() if conn.expires_at <= now]
        gone: list[UserRef] = []
        for conn_id in expired:
            user = await self.leave(session_id, conn_id)
            if user is not None:
                gone.append(user)
        return gone

    async def members(self, session_id: int) -> list[UserRef]:
        # Expired connections still count: only ``reap`` may drop them, as its caller
        # announces who left.
        users = {conn.user.id: conn.user for conn in self._rooms.get(session_id, {}).values()}
        return [users[uid] for uid in sorted(users)]


class MemoryOutbox:
    """A FIFO of events awaiting the transcript; released items go back to the front."""

    def __init__(self) -> None:
        self._items: deque[OutboxItem] = deque()
        self._ready = asyncio.Event()
        self._counter = 0

    def put(self, session_id: int, event: LoggedEvent) -> None:
        self._counter += 1
        self._items.append(OutboxItem(session_id, event.seq, event.data, str(self._counter)))
        self._ready.set()

    async def take(self, max_items: int, wait_s: float) -> list[OutboxItem]:
        if not self._items:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), wait_s)
            except TimeoutError:
                return []
        count = min(max_items, len(self._items))
        return [self._items.popleft() for _ in range(count)]

    async def ack(self, items: list[OutboxItem]) -> None:
        return None

    async def release(self, items: list[OutboxItem]) -> None:
        self._items.extendleft(reversed(items))
        self._ready.set()


class MemoryTutorState:
    """One process: the lease only orders this process's own turn runners."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._asks: dict[int, list[LoggedEvent]] = {}
        self._leases: dict[int, tuple[str, float]] = {}
        self._started: dict[int, int] = {}
        self._cancelled: set[tuple[int, str]] = set()
        self._quizzes: dict[tuple[int, str], str] = {}
        self._answers: dict[tuple[int, str, int], int] = {}
        self._cards: dict[tuple[int, str], str] = {}

    def forget(self, session_id: int) -> None:
        """Drop everything kept for a session whose log expired, as its Redis keys would."""
        self._asks.pop(session_id, None)
        self._leases.pop(session_id, None)
        self._started.pop(session_id, None)
        self._cancelled = {key for key in self._cancelled if key[0] != session_id}
        self._quizzes = {key: v for key, v in self._quizzes.items() if key[0] != session_id}
        self._answers = {key: v for key, v in self._answers.items() if key[0] != session_id}
        self._cards = {key: v for key, v in self._cards.items() if key[0] != session_id}

    def put(self, session_id: int, event: LoggedEvent) -> None:
        # Appends happen in seq order, so the list stays sorted.
        self._asks.setdefault(session_id, []).append(event)

    async def head(self, session_id: int) -> LoggedEvent | None:
        asks = self._asks.get(session_id)
        return asks[0] if asks else None

    async def remove(self, session_id: int, seq: int) -> None:
        asks = [e for e in self._asks.get(session_id, []) if e.seq != seq]
        if asks:
            self._asks[session_id] = asks
        else:
            self._asks.pop(session_id, None)
        if self._started.get(session_id) == seq:
            del self._started[session_id]

    async def acquire(self, session_id: int, owner: str, ttl_s: float) -> bool:
        holder = self._leases.get(session_id)
        now = self._clock()
        if holder is None or holder[1] <= now or holder[0] == owner:
            self._leases[session_id] = (owner, now + ttl_s)
            return True
        return False

    async def renew(self, session_id: int, owner: str, ttl_s: float) -> bool:
        holder = self._leases.get(session_id)
        if holder is None or holder[0] != owner or holder[1] <= self._clock():
            return False
        self._leases[session_id] = (owner, self._clock() + ttl_s)
        return True

    async def release(self, session_id: int, owner: str) -> None:
        holder = self._leases.get(session_id)
        if holder is not None and holder[0] == owner:
            del self._leases[session_id]

    async def mark_started(self, session_id: int, seq: int) -> None:
        self._started[session_id] = seq

    async def started(self, session_id: int) -> int | None:
        return self._started.get(session_id)

    async def request_cancel(self, session_id: int, turn_id: str) -> None:
        self._cancelled.add((session_id, turn_id))

    async def cancel_requested(self, session_id: int, turn_id: str) -> bool:
        return (session_id, turn_id) in self._cancelled

    async def put_quiz(self, session_id: int, quiz_id: str, key: str) -> None:
        self._quizzes[session_id, quiz_id] = key

    async def get_quiz(self, session_id: int, quiz_id: str) -> str | None:
        return self._quizzes.get((session_id, quiz_id))

    async def claim_answer(self, session_id: int, quiz_id: str, user_id: int, choice: int) -> bool:
        # No await between the check and the write: one event loop makes it atomic.
        key = (session_id, quiz_id, user_id)
        if key in self._answers:
            return False
        self._answers[key] = choice
        return True

    async def put_card(self, session_id: int, card_id: str, card: str) -> None:
        self._cards[session_id, card_id] = card

    async def get_card(self, session_id: int, card_id: str) -> str | None:
        return self._cards.get((session_id, card_id))


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    rate_per_s: float
    burst: int

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate_per_s)
            self.stamp = now

    def full_at(self) -> float:
        return self.stamp + (self.burst - self.tokens) / self.rate_per_s


_SWEEP_EVERY_S = 60.0


class MemoryTutorLimits:
    """Ask buckets and token budgets of one process, forgotten as the Redis keys would expire."""

    def __init__(
        self, *, idle_ttl_s: float = 7 * 24 * 3600, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._idle_ttl_s = idle_ttl_s
        self._clock = clock
        self._buckets: dict[AskBucket, _Bucket] = {}
        self._next_bucket_sweep = float("-inf")
        # A session's total and when it was last charged (by ``clock``).
        self._sessions: dict[SessionTokens, tuple[int, float]] = {}
        self._days: dict[UserTokens, int] = {}
        self._newest_day = 0
        self._next_budget_sweep = float("-inf")

    async def take(self, bucket: AskBucket, now: float, rate_per_s: float, burst: int) -> bool:
        self._sweep_buckets(now)
        held = self._bucket(bucket, now, rate_per_s, burst)
        if held.tokens >= 1:
            held.tokens -= 1
            return True
        return False

    async def give_back(self, bucket: AskBucket, now: float, rate_per_s: float, burst: int) -> None:
        held = self._bucket(bucket, now, rate_per_s, burst)
        held.tokens = min(burst, held.tokens + 1)

    def _bucket(self, bucket: AskBucket, now: float, rate_per_s: float, burst: int) -> _Bucket:
        held = self._buckets.get(bucket)
        if held is None:
            held = self._buckets[bucket] = _Bucket(float(burst), now, rate_per_s, burst)
        held.rate_per_s, held.burst = rate_per_s, burst
        held.refill(now)
        return held

    def _sweep_buckets(self, now: float) -> None:
        if now < self._next_bucket_sweep:
            return
        self._next_bucket_sweep = now + _SWEEP_EVERY_S
        for key, held in tuple(self._buckets.items()):
            if held.full_at() <= now:
                del self._buckets[key]

    async def spent(self, budget: TokenBudget) -> int:
        self._sweep_budgets()
        if isinstance(budget, SessionTokens):
            return self._sessions.get(budget, (0, 0.0))[0]
        return self._days.get(budget, 0)

    async def reserve(self, budget: TokenBudget, tokens: int, ceiling: int) -> bool:
        # No await between the read and the charge: atomic within the one process.
        if await self.spent(budget) + tokens > ceiling:
            return False
        await self.charge(budget, tokens)
        return True

    async def charge(self, budget: TokenBudget, tokens: int) -> int:
        self._sweep_budgets()
        if isinstance(budget, SessionTokens):
            total = self._sessions.get(budget, (0, 0.0))[0] + tokens
            self._sessions[budget] = (total, self._clock())
            return total
        if budget.day > self._newest_day:
            self._newest_day = budget.day
            # A day's budget matters until the day is over; one day more covers clock skew.
            self._days = {
                key: total for key, total in self._days.items() if key.day >= budget.day - 1
            }
        total = self._days[budget] = self._days.get(budget, 0) + tokens
        return total

    def _sweep_budgets(self) -> None:
        now = self._clock()
        if now < self._next_budget_sweep:
            return
        self._next_budget_sweep = now + min(self._idle_ttl_s, _SWEEP_EVERY_S)
        self._sessions = {
            key: held for key, held in self._sessions.items() if now - held[1] < self._idle_ttl_s
        }


def memory_live_state(
    *,
    retention: int,
    presence_ttl_s: float,
    seed: SeedSource,
    idle_ttl_s: float = 7 * 24 * 3600,
    gate_ttl_s: float = 300.0,
) -> LiveState:
    outbox = MemoryOutbox()
    turns = MemoryTutorState()
    log = MemoryRoomLog(
        retention=retention, seed=seed, outbox=outbox, turns=turns, idle_ttl_s=idle_ttl_s
    )
    presence = MemoryPresence(ttl_s=presence_ttl_s)
    return LiveState(
        log=log,
        presence=presence,
        outbox=outbox,
        tutor=turns,
        limits=MemoryTutorLimits(idle_ttl_s=idle_ttl_s),
        gates=MemorySessionGates(ttl_s=gate_ttl_s),
        door=MemoryRoomDoor(log, presence),
        revocations=MemoryTokenRevocations(),
    )
