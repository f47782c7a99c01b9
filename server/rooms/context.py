"""What the room side needs of the application, as ports: the room sockets depend on these,
never on the composition root that builds them (``server.services.Services`` satisfies
:class:`RoomServices`)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.events import UserRef
from protocol.frames import AnswerFrame, AskFrame, FrameError
from server.config import Settings
from server.live.ports import LiveState
from server.metrics import Metrics
from server.rooms.gatekeeper import Gatekeeper
from server.rooms.hub import Hub
from server.rooms.joins import JoinLimiter
from server.rooms.replays import ReplayReads


class TutorDesk(Protocol):
    """What a member's frames ask of the tutor. A refusal is returned, never raised; a live
    state outage raises ``LiveStateUnavailable``."""

    async def ask(self, session_id: int, user: UserRef, frame: AskFrame) -> FrameError | None:
        """Queue a question; it is answered in ``seq`` order with the session's other asks."""
        ...

    async def cancel(self, session_id: int, user: UserRef, turn_id: str) -> FrameError | None:
        """Stop a turn, on whichever process runs it, if ``user`` asked it or hosts the
        session (else ``not_allowed``); an unknown turn is ignored."""
        ...

    async def answer(self, session_id: int, user: UserRef, frame: AnswerFrame) -> FrameError | None:
        """Grade a quiz answer; only a learner's first answer to a quiz counts."""
        ...

    async def review(self, session_id: int, user: UserRef) -> FrameError | None:
        """Pose again the quiz cards due for the members in the room (``nothing_due`` if none)."""
        ...


class RoomServices(Protocol):
    """The long-lived parts a room socket uses, built once per process."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def live(self) -> LiveState: ...

    @property
    def hub(self) -> Hub: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def tutor(self) -> TutorDesk: ...

    @property
    def gatekeeper(self) -> Gatekeeper: ...

    @property
    def joins(self) -> JoinLimiter: ...

    @property
    def replays(self) -> ReplayReads: ...
