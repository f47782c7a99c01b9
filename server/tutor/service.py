"""The tutor of one process, as the room endpoint and the app see it.

It puts together the parts, one concept each: :mod:`~server.tutor.admission` (who may ask
now), :mod:`~server.tutor.runner` (answering each session's asks in ``seq`` order under a
lease), :mod:`~server.tutor.context` (what the model is told) and
:mod:`~server.tutor.grading` (quiz answers and the mastery they report). Asks join the
session's queue atomically with their room event, so they are answered in ``seq`` order.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.errors import ErrorCode
from protocol.events import AskEvent, UserRef, now_iso
from protocol.frames import AnswerFrame, AskFrame, FrameError
from protocol.sessions import TutorMode
from server.config import Settings
from server.live.ports import LiveState
from server.membership import is_host
from server.metrics import Metrics
from server.progress.cards import QuizCards
from server.rooms.hub import Hub
from server.tutor.admission import AskPolicy
from server.tutor.context import PromptContext, session_mode
from server.tutor.grading import QuizGrader
from server.tutor.knowledge import MaterialSearch
from server.tutor.provider import Provider
from server.tutor.review import Reviewer
from server.tutor.runner import TurnRunner

# Room events searched back for the ask a cancel names; asks are answered long before this many
# events pass (every streamed delta is one).
_ASK_LOOKBACK = 2000


class TutorService:
    def __init__(
        self,
        settings: Settings,
        live: LiveState,
        hub: Hub,
        db: async_sessionmaker[AsyncSession],
        provider: Provider,
        search: MaterialSearch,
        metrics: Metrics,
        owner: str,
        clock: Callable[[], float] = time.time,
        fallback: Provider | None = None,
    ) -> None:
        """``clock`` is wall-clock seconds, shared by every process: the ask limits use it.
        ``fallback`` finishes the turns ``provider`` fails."""
        self.provider = provider
        self._fallback = fallback
        self._db = db
        self._log = live.log
        self._hub = hub
        self._policy = AskPolicy(settings, live.limits, clock)
        self._grader = QuizGrader(live.tutor, hub, db)
        cards = QuizCards(db)
        self._reviewer = Reviewer(
            cards=cards,
            state=live.tutor,
            hub=hub,
            presence=live.presence,
            db=db,
            ahead_s=settings.review_ahead_s,
        )
        self._runner = TurnRunner(
            settings,
            log=live.log,
            state=live.tutor,
            hub=hub,
            provider=provider,
            fallback=fallback,
            cards=cards,
            search=search,
            context=PromptContext(
                log=live.log, db=db, search=search, history_events=settings.tutor_history_events
            ),
            policy=self._policy,
            metrics=metrics,
            owner=owner,
        )

    async def ask(self, session_id: int, user: UserRef, frame: AskFrame) -> FrameError | None:
        """Queue a question for the tutor; a refusal is returned, not raised."""
        if await session_mode(self._db, session_id) is TutorMode.OFF:
            return FrameError(ErrorCode.NOT_ALLOWED, "the tutor is switched off in this session")
        refused = await self._policy.admit(session_id, user)
        if refused is not None:
            return refused
        event = AskEvent(
            turn_id="t" + secrets.token_hex(8),
            user=user,
            text=frame.text,
            client_msg_id=frame.client_msg_id,
            ts=now_iso(),
        )
        await self._hub.publish(session_id, event, queue_turn=True)
        self._runner.kick(session_id)
        return None

    async def cancel(self, session_id: int, user: UserRef, turn_id: str) -> FrameError | None:
        """Stop a turn, here or on whichever process runs it (or will run it): the asker's
        own, or anyone's for a host of the session."""
        asker = await self._asker(session_id, turn_id)
        if asker is None:
            return None  # no such turn in the recent room: nothing to stop
        if asker != user.id and not await is_host(self._db, session_id, user.id):
            return FrameError(
                ErrorCode.NOT_ALLOWED, "only the asker or a host can stop this answer"
            )
        await self._runner.cancel(session_id, turn_id)
        return None

    async def _asker(self, session_id: int, turn_id: str) -> int | None:
        """Who asked ``turn_id``, from the room's recent log (a turn waits at most that long)."""
        window = await self._log.window(session_id)
        start = max(0, window.head - _ASK_LOOKBACK)
        for event in reversed(await self._log.read(session_id, start, _ASK_LOOKBACK)):
            if f'"turn_id":"{turn_id}"' in event.data and '"type":"ask"' in event.data:
                body = json.loads(event.data)
                if body.get("type") == "ask" and body.get("turn_id") == turn_id:
                    user_id = (body.get("user") or {}).get("id")
                    return user_id if isinstance(user_id, int) else None
        return None

    async def answer(self, session_id: int, user: UserRef, frame: AnswerFrame) -> FrameError | None:
        """Grade a quiz answer; a refusal is returned, not raised."""
        return await self._grader.answer(session_id, user, frame)

    async def review(self, session_id: int, user: UserRef) -> FrameError | None:
        """Pose again the quiz cards due for the members in the room."""
        return await self._reviewer.review(session_id, user)

    def kick(self, session_id: int) -> None:
        """Make sure this process tries to answer the session's queued asks."""
        self._runner.kick(session_id)

    def start(self) -> None:
        self._runner.start()

    async def close(self) -> None:
        """Stop; turns cut short end with ``interrupted`` so nobody waits for them."""
        await self._runner.close()
        await self.provider.close()
        if self._fallback is not None:
            await self._fallback.close()
