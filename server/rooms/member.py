"""One connected socket as the room sees it: a bounded queue and how it must end."""

from __future__ import annotations

import asyncio
import secrets

from protocol.errors import CloseCode
from protocol.events import UserRef
from server.live.ports import LoggedEvent

# Ephemeral frames (pong, typing, error) travel the same queue with this seq, so they keep
# their place relative to room events and are never taken for duplicates.
EPHEMERAL_SEQ = 0


class Member:
    """A socket's place in a room.

    The room pushes frames without ever awaiting the socket: a full queue means the client is
    not reading fast enough, and the member is marked to be closed with 4008 instead of
    holding the room or growing without bound.
    """

    __slots__ = (
        "close_after_seq",
        "close_code",
        "closing",
        "conn_id",
        "queue",
        "session_id",
        "user",
    )

    def __init__(self, session_id: str, user: UserRef, queue_max: int) -> None:
        self.session_id = session_id
        self.user = user
        self.conn_id = secrets.token_hex(8)
        self.queue: asyncio.Queue[LoggedEvent] = asyncio.Queue(queue_max)
        self.closing = asyncio.Event()
        self.close_code: CloseCode | None = None
        # Close once the frame with this seq has been written (used for session.ended).
        self.close_after_seq: int | None = None

    def push(self, event: LoggedEvent) -> bool:
        """Queue a frame; False (and the member is marked slow) if the queue is full."""
        if self.closing.is_set():
            return False
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.close(CloseCode.SLOW_CONSUMER)
            return False
        return True

    def push_ephemeral(self, frame: str) -> bool:
        return self.push(LoggedEvent(EPHEMERAL_SEQ, frame))

    def close(self, code: CloseCode) -> None:
        """Ask the connection to close with ``code``; the first reason given wins."""
        if self.close_code is None:
            self.close_code = code
        self.closing.set()
