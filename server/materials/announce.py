"""Telling the live rooms of a topic's sessions that its materials or the topic itself changed.

After the change is committed, each active session on the topic with members in its room
gets ``material.added``, ``material.removed`` or ``topic.changed``, so every member's view
follows at once.
Rooms nobody is in are skipped (whoever joins later reads the list), and so is live state that
is down: the change itself stands, only the notice is lost.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.events import RoomEvent, TopicChangedEvent, now_iso
from protocol.sessions import SessionStatus
from server.db.models import StudySession
from server.live.ports import LiveState, LiveStateUnavailable, Presence
from server.rooms.hub import Hub

log = logging.getLogger(__name__)

# The newest active sessions of a topic that hear of a change; older ones reload the list.
SESSIONS_TOLD = 200


async def active_sessions(db: AsyncSession, topic_id: int, limit: int | None = None) -> list[int]:
    """The ids of the topic's sessions that have not ended, newest first."""
    query = (
        select(StudySession.id)
        .where(
            StudySession.topic_id == topic_id,
            StudySession.status == SessionStatus.ACTIVE.value,
        )
        .order_by(StudySession.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return list(await db.scalars(query))


async def tell_rooms(hub: Hub, presence: Presence, sessions: list[int], event: RoomEvent) -> None:
    """Publish ``event`` to each of ``sessions`` that has members in its room."""
    for session_id in sessions:
        try:
            if await presence.members(session_id):
                await hub.publish(session_id, event)
        except LiveStateUnavailable:
            log.warning("%d rooms not told of %s: live state down", len(sessions), event.type)
            return


async def announce(
    db: AsyncSession, hub: Hub, presence: Presence, topic_id: int, event: RoomEvent
) -> None:
    """Tell the live rooms of the topic's newest active sessions."""
    sessions = await active_sessions(db, topic_id, limit=SESSIONS_TOLD)
    await tell_rooms(hub, presence, sessions, event)


async def tell_topic_changed(
    hub: Hub, live: LiveState, sessions: list[int], topic: dict[str, object] | None
) -> None:
    """The sessions' topic was changed (or deleted: ``None``), committed. Joins read the topic
    from each session's gate, so the gates are written before the rooms hear of it. With live
    state down the change stands; gates catch up when they expire."""
    try:
        for session_id in sessions:
            await live.gates.set_topic(session_id, json.dumps(topic))
    except LiveStateUnavailable:
        log.warning(
            "gates of %d sessions not told of a topic change: live state down", len(sessions)
        )
        return
    await tell_rooms(hub, live.presence, sessions, TopicChangedEvent(topic=topic, ts=now_iso()))
