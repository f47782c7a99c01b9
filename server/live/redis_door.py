"""The way into a room on Redis: one script (``room_enter.lua``) per join, over the session's
presence and log keys, which share the session's hash slot."""

from __future__ import annotations

from typing import Any

from protocol.events import UserRef, check_event_body
from protocol.sequence import LogWindow
from server.live.keys import LiveKeys
from server.live.ports import Departures, Entry, LiveStateUnavailable, LoggedEvent
from server.live.redis_client import (
    COMMAND_TIMEOUT_S,
    Client,
    entry_seq,
    load_pipe_script,
    load_script,
    unavailable,
)
from server.live.redis_log import RedisRoomLog
from server.live.redis_pipe import Pipe
from server.live.redis_presence import RedisPresence

# Creating a log and entering it are two scripts; the log may vanish in between.
_CREATE_ATTEMPTS = 3


class RedisRoomDoor:
    def __init__(
        self,
        client: Client,
        keys: LiveKeys,
        log: RedisRoomLog,
        presence: RedisPresence,
        *,
        pipe: Pipe | None = None,
        timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        self._keys = keys
        self._log = log
        self._presence = presence
        self._timeout_s = timeout_s
        files = ("presence_lib.lua", "log_lib.lua", "room_enter.lua")
        self._enter = (
            load_script(client, *files) if pipe is None else load_pipe_script(pipe, *files)
        )

    async def enter(
        self, session_id: int, conn_id: str, user: UserRef, join_body: str
    ) -> Entry | Departures:
        check_event_body(join_body)
        keys = self._keys
        log = self._log.settings
        script_keys = [
            *keys.presence(session_id),
            keys.meta(session_id),
            keys.log(session_id),
            keys.outbox_of(session_id),
        ]
        args = [
            *self._presence.join_args(conn_id, user),
            join_body,
            log.retention,
            log.idle_ttl_s,
            session_id,
            keys.channel(session_id),
            log.outbox_maxlen,
            log.publish,
        ]
        for _ in range(_CREATE_ATTEMPTS):
            async with unavailable(self._timeout_s):
                reply = await self._enter(keys=script_keys, args=args)
            if reply:
                return _entry(reply)
            await self._log.ensure_log(session_id)
        raise LiveStateUnavailable(f"the room log of {session_id} keeps disappearing")


def _entry(reply: list[Any]) -> Entry | Departures:
    if len(reply) == 1:
        return Departures([UserRef.model_validate_json(user) for user in reply[0]])
    epoch, head, first_id, joined, members = reply
    head_seq = int(head)
    return Entry(
        window=LogWindow(str(epoch), entry_seq(first_id) if first_id else head_seq + 1, head_seq),
        # The script appended it right after reading the head.
        joined=LoggedEvent(head_seq + 1, str(joined)) if joined else None,
        members=sorted((UserRef.model_validate_json(m) for m in members), key=lambda u: u.id),
    )
