"""What the application builds in its lifespan and hands to routes and sockets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.config import Settings
from server.live.ports import LiveState
from server.metrics import Metrics

if TYPE_CHECKING:
    from server.rooms.activity import ActivityRecorder
    from server.rooms.gatekeeper import Gatekeeper
    from server.rooms.hub import Hub
    from server.rooms.joins import JoinLimiter
    from server.rooms.replays import ReplayReads
    from server.tutor.service import TutorService


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    live: LiveState
    hub: Hub
    metrics: Metrics
    tutor: TutorService
    activity: ActivityRecorder
    gatekeeper: Gatekeeper
    joins: JoinLimiter
    replays: ReplayReads
