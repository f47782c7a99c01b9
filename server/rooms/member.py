"""One connected socket as the room sees it: its pending frames and how it must end."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

from protocol.errors import CloseCode
from protocol.events import UserRef
from protocol.feed import MemberCursor
from server.live.ports import LoggedEvent

# Ephemeral frames (pong, typing, error) travel the same queue with this seq, so they keep
# their place relative to room events and are never taken for duplicates.
EPHEMERAL_SEQ = 0

# Writes a frame to the socket at once if it can, without awaiting; False if it cannot now.
Sink = Callable[[LoggedEvent], bool]


class Member:
    """A socket's place in a room.

    The room pushes frames without ever awaiting the socket. While the socket's writer is idle
    and nothing is pending, a frame goes straight to the socket through the writer's ``sink``,
    as ``websockets.broadcast`` would send it; otherwise it waits here, in order, for the writer.
    A full queue means the client is not reading fast enough: the member is marked to be closed
    with 4008 instead of holding the room or growing without bound.
    """

    __slots__ = (
        "_closed",
        "_pending",
        "_queue_max",
        "_stopped",
        "_waiter",
        "close_code",
        "conn_id",
        "cursor",
        "end_code",
        "session_id",
        "sink",
        "user",
    )

    def __init__(self, session_id: int, user: UserRef, queue_max: int) -> None:
        self.session_id = session_id
        self.user = user
        self.conn_id = secrets.token_hex(8)
        # A list, not a deque: it is nearly always empty, and an empty deque is ~760 bytes.
        self._pending: list[LoggedEvent] = []
        self._queue_max = queue_max
        # The writer's wait for frames (or for the close), when it is waiting.
        self._waiter: asyncio.Future[None] | None = None
        self._stopped = False
        # Made only when a write blocks on the socket (see ``closed``).
        self._closed: asyncio.Future[None] | None = None
        self.sink: Sink | None = None
        self.close_code: CloseCode | None = None
        # What the socket was written up to, and the seq after which the session has ended:
        # set by the room, advanced by the connection's writer.
        self.cursor = MemberCursor()
        # What the socket is closed with once the cursor passes that seq: the session ended,
        # or this member was removed from it.
        self.end_code = CloseCode.SESSION_ENDED

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def push(self, event: LoggedEvent) -> bool:
        """Queue a frame; False (and the member is marked slow) if the queue is full."""
        if self.close_code is not None:
            return False
        pending = self._pending
        if not pending:
            # Only while the writer waits: a writer that is writing may hold earlier frames.
            if self._waiter is not None and self.sink is not None and self._sink(event):
                return True
        elif len(pending) >= self._queue_max:
            self.close(CloseCode.SLOW_CONSUMER)
            return False
        pending.append(event)
        self._wake()
        return True

    def push_ephemeral(self, frame: str) -> bool:
        return self.push(LoggedEvent(EPHEMERAL_SEQ, frame))

    async def take(self, limit: int) -> list[LoggedEvent]:
        """Up to ``limit`` pending frames, waiting for the first; [] once the member is closing
        or stopped."""
        pending = self._pending
        while not pending and self.close_code is None and not self._stopped:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.close_code is not None or self._stopped:
            return []
        taken = pending[:limit]
        del pending[:limit]
        return taken

    def closed(self) -> asyncio.Future[None]:
        """Done once the member is closing: a write waiting for the client gives up at once."""
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_future()
            if self.close_code is not None:
                self._closed.set_result(None)
        return self._closed

    def close(self, code: CloseCode) -> None:
        """Ask the connection to close with ``code``; the first reason given wins."""
        if self.close_code is None:
            self.close_code = code
        self._pending.clear()
        self._wake()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def stop(self) -> None:
        """End the writer's wait for good, without a close code (the client went away)."""
        self._stopped = True
        self._wake()

    def _sink(self, event: LoggedEvent) -> bool:
        assert self.sink is not None
        try:
            return self.sink(event)
        except Exception:
            # Never the room's problem: the writer meets the same failure in its own task.
            return False

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
