"""The way into a room on the memory engine: its log and presence, with no await between the
steps, so no other coroutine sees them half done."""

from __future__ import annotations

from protocol.events import UserRef
from server.live.ports import Departures, Entry, LoggedEvent, Presence, RoomLog


class MemoryRoomDoor:
    def __init__(self, log: RoomLog, presence: Presence) -> None:
        # The memory engine's own: with them no step below waits once the log exists.
        self._log = log
        self._presence = presence

    async def enter(
        self, session_id: int, conn_id: str, user: UserRef, join_body: str
    ) -> Entry | Departures:
        # The log's creation (the only step that may wait, for the seed) comes first.
        await self._log.window(session_id)
        departed = await self._presence.reap(session_id)
        if departed:
            return Departures(departed)
        window = await self._log.window(session_id)
        joined: LoggedEvent | None = None
        if await self._presence.join(session_id, conn_id, user):
            joined = await self._log.append(session_id, join_body, persist=True)
        members = await self._presence.members(session_id)
        return Entry(window, joined, members)
