"""The replay reads of joining members, one log read per identical concurrent request.

Members of a room resuming together (a reconnect storm) mostly ask for the same events: the
same session, after the same ``last_seq``, up to the same head. Those reads are made once
(:class:`~server.rooms.single_flight.SingleFlight`) and the list is shared: callers must not
change it. Requests that differ in anything, the limit included, are separate reads: a read
started before another member's head was known might not reach that head.
"""

from __future__ import annotations

from server.live.ports import LoggedEvent, RoomLog
from server.rooms.single_flight import SingleFlight


class ReplayReads:
    """``read`` as the room log's, coalesced; errors (``LiveStateUnavailable``) reach every
    caller of the shared read."""

    def __init__(self, log: RoomLog) -> None:
        self._log = log
        self._flights: SingleFlight[tuple[int, int, int | None], list[LoggedEvent]] = SingleFlight()

    async def read(
        self, session_id: int, after_seq: int, limit: int | None = None
    ) -> list[LoggedEvent]:
        """Held events with ``seq > after_seq`` in order, at most ``limit``; read-only."""
        return await self._flights.do(
            (session_id, after_seq, limit),
            lambda: self._log.read(session_id, after_seq, limit=limit),
        )
