"""The rooms of one process: fan-out of logged events to local members, in seq order.

Each session with local members has one subscription to its log. Events reach the hub in seq
order but possibly with holes (pub/sub is at-most-once); what to do with each one is decided by
the room's :class:`~protocol.feed.RoomFeed`, and the hub does the I/O it asks for: reading the
missing events back from the log before anything newer is delivered, or restarting the room.
Delivery never awaits a socket: every member has a bounded queue (see :mod:`member`).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from protocol.errors import CloseCode
from protocol.events import (
    TRANSIENT_EVENT_TYPES,
    PresenceEvent,
    RoomEvent,
    encode_event,
    now_iso,
    peek_type,
)
from protocol.feed import Action, Release, RoomFeed, Then
from server.config import Settings
from server.live.ports import Entry, LiveState, LiveStateUnavailable, LoggedEvent, Subscription
from server.metrics import Metrics
from server.rooms.member import EPHEMERAL_SEQ, Member

log = logging.getLogger(__name__)

_REAP_MARGIN_S = 0.05


@dataclass(eq=False)
class _Room:
    session_id: int
    members: set[Member] = field(default_factory=set)
    subscription: Subscription | None = None
    epoch: str = ""
    feed: RoomFeed[LoggedEvent] = field(default_factory=RoomFeed)


class Hub:
    def __init__(self, settings: Settings, live: LiveState, metrics: Metrics) -> None:
        self._settings = settings
        self._live = live
        self._metrics = metrics
        self._rooms: dict[int, _Room] = {}
        self._where: dict[Member, _Room] = {}
        self._opening: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        # Per session, when the lingering connections closed here are due to be reaped.
        self._reap_dues: dict[int, list[float]] = {}

    # -- publishing -----------------------------------------------------------------------

    async def publish(
        self, session_id: int, event: RoomEvent, *, queue_turn: bool = False
    ) -> LoggedEvent:
        """Append ``event`` to the session's log; every member on every process receives it.

        ``queue_turn`` also queues it (an ask) for the tutor. Raises
        :class:`LiveStateUnavailable` if it could not be appended.
        """
        persist = event.type not in TRANSIENT_EVENT_TYPES
        logged = await self._live.log.append(
            session_id, encode_event(event), persist=persist, queue_turn=queue_turn
        )
        self._metrics.events_appended.labels(event.type).inc()
        return logged

    async def signal(self, session_id: int, frame: str) -> None:
        """Send an ephemeral frame (no seq, not logged) to the session's members everywhere."""
        await self._live.log.signal(session_id, frame)

    # -- membership -----------------------------------------------------------------------

    async def attach(self, member: Member) -> None:
        """Start delivering the session's live events to ``member``.

        Every event appended after this returns reaches the member's queue (maybe together with
        some older ones, which the connection drops by seq).
        """
        room = await self._open(member.session_id)
        room.members.add(member)
        self._where[member] = room
        self._metrics.ws_connections.inc()

    async def detach(self, member: Member) -> None:
        room = self._where.pop(member, None)
        if room is None:
            return
        self._remove(room, member)
        if not room.members and self._rooms.get(room.session_id) is room:
            await self._retire(room)

    def _remove(self, room: _Room, member: Member) -> None:
        if member in room.members:
            room.members.discard(member)
            self._metrics.ws_connections.dec()

    async def _retire(self, room: _Room) -> None:
        """Forget a room: later members of the session open a fresh one."""
        if self._rooms.get(room.session_id) is room:
            del self._rooms[room.session_id]
            self._metrics.rooms.set(len(self._rooms))
        if room.subscription is not None:
            subscription, room.subscription = room.subscription, None
            with contextlib.suppress(LiveStateUnavailable):
                await subscription.close()

    async def _open(self, session_id: int) -> _Room:
        room = self._rooms.get(session_id)
        if room is not None:
            return room
        lock = self._opening.setdefault(session_id, asyncio.Lock())
        async with lock:
            room = self._rooms.get(session_id)
            if room is not None:
                return room
            room = _Room(session_id)
            room.subscription = await self._live.log.subscribe(
                session_id, lambda event: self._receive(room, event)
            )
            try:
                window = await self._live.log.window(session_id)
            except BaseException:
                await room.subscription.close()
                raise
            room.epoch = window.epoch
            self._rooms[session_id] = room
            self._release(room, room.feed.start(window.head))
            self._metrics.rooms.set(len(self._rooms))
        self._opening.pop(session_id, None)
        return room

    # -- delivery -------------------------------------------------------------------------

    def _receive(self, room: _Room, event: LoggedEvent) -> None:
        if event.seq == EPHEMERAL_SEQ:
            self._deliver_ephemeral(room, event)
            return
        action = room.feed.offer(event)
        if action is Action.DELIVER:
            self._deliver(room, event)
        elif action is Action.FILL:
            self._spawn(self._fill(room))

    def _deliver(self, room: _Room, event: LoggedEvent) -> None:
        kind = peek_type(event.data)
        ended = kind == "session.ended"
        removed = _removed_user(event.data) if kind == "member.removed" else None
        for member in tuple(room.members):
            if ended or member.user.id == removed:
                # Set first: the frame may be written during the push. A removed member gets
                # the event, then its socket closes with 4403 (on every process: all see it).
                if not ended:
                    member.end_code = CloseCode.FORBIDDEN
                member.cursor.end_after(event.seq)
            if not member.push(event):
                self._drop_slow(room, member)
        self._metrics.deliveries.inc(len(room.members))

    def _deliver_ephemeral(self, room: _Room, event: LoggedEvent) -> None:
        # Only typing indicators travel this way; they are not echoed to their sender.
        try:
            sender = json.loads(event.data).get("user", {}).get("id")
        except (ValueError, AttributeError):
            sender = None
        for member in tuple(room.members):
            if member.user.id != sender and not member.push(event):
                self._drop_slow(room, member)

    def _drop_slow(self, room: _Room, member: Member) -> None:
        # The member is already marked closing; stop queueing for it right away so the room
        # does no more work on its behalf. Its connection handler detaches it properly.
        self._remove(room, member)

    async def _fill(self, room: _Room) -> None:
        """Read the events a room missed from the log, and deliver what the feed releases."""
        self._metrics.gap_fills.inc()
        feed = room.feed
        try:
            missing = await self._live.log.read(room.session_id, feed.fill_after)
        except LiveStateUnavailable:
            missing = []
        if not feed.restarted:
            self._release(room, feed.filled(missing))

    def _release(self, room: _Room, release: Release[LoggedEvent]) -> None:
        for event in release.deliver:
            self._deliver(room, event)
        if release.then is Then.FILL:
            self._spawn(self._fill(room))
        elif release.then is Then.RESTART:
            # The log no longer holds what this room missed (trimmed, or a new epoch):
            # members must reconnect and resume or reload.
            log.warning("room %s lost events after seq %d", room.session_id, room.feed.last)
            self._restart_room(room)

    def _restart_room(self, room: _Room) -> None:
        """Close every member with 1012 so they reconnect, resume or reload, and start over."""
        room.feed.restart()
        for member in tuple(room.members):
            member.close(CloseCode.SERVICE_RESTART)
            self._remove(room, member)
        if self._rooms.get(room.session_id) is room:
            del self._rooms[room.session_id]
            self._metrics.rooms.set(len(self._rooms))
        self._spawn(self._retire(room))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- presence -------------------------------------------------------------------------

    async def announce_departures(self, session_id: int) -> None:
        """Emit ``presence leave`` for connections whose heartbeat stopped (a dead process)."""
        for user in await self._live.presence.reap(session_id):
            await self.publish(session_id, PresenceEvent(event="leave", user=user, ts=now_iso()))

    async def enter(self, member: Member) -> Entry:
        """Put an attached member in presence and read what its welcome needs, in one step of
        live state; the departures found on the way are announced first."""
        user, session_id = member.user, member.session_id
        body = encode_event(PresenceEvent(event="join", user=user, ts=now_iso()))
        while True:
            entered = await self._live.door.enter(session_id, member.conn_id, user, body)
            if isinstance(entered, Entry):
                break
            # Each round reaps at least one connection, so this ends.
            for gone in entered.users:
                await self.publish(
                    session_id, PresenceEvent(event="leave", user=gone, ts=now_iso())
                )
        if entered.joined is not None:
            self._metrics.events_appended.labels("presence").inc()
        return entered

    async def leave(self, member: Member) -> None:
        """The member's socket closed. Unless the session ended, it stays present for the
        grace period, and leaves (announced by whoever reaps it) only if it is not back."""
        grace_s = self._settings.presence_grace_s
        # Gone for good (the session ended, the member was removed): no grace to wait out.
        if grace_s > 0 and member.close_code not in (CloseCode.SESSION_ENDED, CloseCode.FORBIDDEN):
            await self._live.presence.linger(member.session_id, member.conn_id, grace_s)
            self._reap_later(member.session_id, grace_s)
            return
        user = await self._live.presence.leave(member.session_id, member.conn_id)
        if user is not None:
            await self.publish(
                member.session_id, PresenceEvent(event="leave", user=user, ts=now_iso())
            )

    def _reap_later(self, session_id: int, grace_s: float) -> None:
        """Reap the session once this linger is over, even if nobody else is left to."""
        # The backend set the expiry by its clock when linger returned; both clocks advance
        # alike, so the margin only covers the rounding to milliseconds.
        due = asyncio.get_running_loop().time() + grace_s + _REAP_MARGIN_S
        dues = self._reap_dues.get(session_id)
        if dues is not None:
            dues.append(due)  # one reaper per session; the grace is the same for every linger
            return
        self._reap_dues[session_id] = [due]
        self._spawn(self._reaper(session_id))

    async def _reaper(self, session_id: int) -> None:
        loop = asyncio.get_running_loop()
        dues = self._reap_dues[session_id]
        try:
            while dues:
                await asyncio.sleep(max(0.0, dues[0] - loop.time()))
                # One reap covers every linger over by now.
                del dues[: bisect.bisect_right(dues, loop.time())]
                try:
                    await self.announce_departures(session_id)
                except LiveStateUnavailable:
                    pass  # a heartbeat or the next join reaps them
                except Exception:
                    log.exception("reaping room %s failed", session_id)
        finally:
            self._reap_dues.pop(session_id, None)

    def local_sessions(self) -> list[int]:
        """Sessions with members connected to this process."""
        return list(self._rooms)

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._heartbeat_loop())

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.presence_heartbeat_s)
            for session_id, room in tuple(self._rooms.items()):
                try:
                    await self._live.presence.heartbeat(
                        session_id, [m.conn_id for m in room.members]
                    )
                    await self.announce_departures(session_id)
                    window = await self._live.log.window(session_id)
                except LiveStateUnavailable:
                    continue
                except Exception:
                    log.exception("heartbeat of room %s failed", session_id)
                    continue
                if window.epoch != room.epoch:
                    log.warning("room %s log was lost; members reconnect", session_id)
                    self._restart_room(room)

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        for task in tuple(self._tasks):
            task.cancel()
        for room in tuple(self._rooms.values()):
            self._restart_room(room)


def _removed_user(data: str) -> int | None:
    """The id of the user a ``member.removed`` event names."""
    try:
        user = json.loads(data).get("user") or {}
        user_id = user.get("id")
    except (ValueError, AttributeError):
        return None
    return user_id if isinstance(user_id, int) else None
