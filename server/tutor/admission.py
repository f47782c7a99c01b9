"""Whether an ask is admitted: token budgets first, then the per-user and per-session rates.

The counters live in the live state (:class:`~server.live.ports.TutorLimits`), so the limits
hold for a whole deployment, not per process, and they expire there. An ask is refused once a
budget is spent; a turn reserves its prompt and a whole answer before the model is asked, and
settles with what it really spent once it ends. A reservation is refused when the prompt alone
would take a budget past its limit, so turns running at once, on any process, pass a budget by
at most one answer's ``max_tokens`` together.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from protocol.errors import ErrorCode
from protocol.events import UserRef
from protocol.frames import FrameError
from server.config import Settings
from server.live.ports import SessionAsks, SessionTokens, TutorLimits, UserAsks, UserTokens

_DAY_S = 86400


@dataclass(frozen=True, slots=True)
class Reservation:
    """Tokens set aside for one turn on its session's and its asker's budgets."""

    session_id: int
    user_id: int
    day: int
    tokens: int


class AskPolicy:
    def __init__(
        self,
        settings: Settings,
        limits: TutorLimits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` is wall-clock seconds: every process of a deployment reads the same one."""
        self._limits = limits
        self._clock = clock
        self._user_rate = settings.tutor_asks_per_minute / 60
        self._user_burst = settings.tutor_ask_burst
        self._session_rate = settings.tutor_session_asks_per_minute / 60
        self._session_burst = settings.tutor_session_ask_burst
        self._session_budget = settings.tutor_session_token_budget
        self._user_budget = settings.tutor_user_token_budget

    async def admit(self, session_id: int, user: UserRef) -> FrameError | None:
        """Spend one ask of the user's and the session's rates; the refusal if over a limit.

        A refused ask spends nothing. Raises ``LiveStateUnavailable`` if the counters cannot be
        reached.
        """
        now = self._clock()
        if await self._limits.spent(SessionTokens(session_id)) >= self._session_budget:
            return FrameError(ErrorCode.RATE_LIMITED, "this session's tutor budget is used up")
        if await self._limits.spent(UserTokens(user.id, _day(now))) >= self._user_budget:
            return FrameError(ErrorCode.RATE_LIMITED, "your tutor budget for today is used up")
        asker = UserAsks(user.id)
        if not await self._limits.take(asker, now, self._user_rate, self._user_burst):
            return FrameError(ErrorCode.RATE_LIMITED, "too many questions; wait a little")
        room = SessionAsks(session_id)
        if not await self._limits.take(room, now, self._session_rate, self._session_burst):
            await self._limits.give_back(asker, now, self._user_rate, self._user_burst)
            return FrameError(ErrorCode.RATE_LIMITED, "this room asks too fast; wait a little")
        return None

    async def reserve(
        self, session_id: int, user_id: int, prompt_tokens: int, max_tokens: int
    ) -> Reservation | FrameError:
        """Set aside what a turn may spend before the model is asked: its prompt and a whole
        answer; the refusal if the prompt alone would pass the session's or the user's budget.
        Raises ``LiveStateUnavailable`` if the counters cannot be reached."""
        day = _day(self._clock())
        tokens = prompt_tokens + max_tokens
        session = SessionTokens(session_id)
        if not await self._limits.reserve(session, tokens, self._session_budget + max_tokens):
            return FrameError(ErrorCode.RATE_LIMITED, "this session's tutor budget is used up")
        user = UserTokens(user_id, day)
        if not await self._limits.reserve(user, tokens, self._user_budget + max_tokens):
            await self._limits.charge(session, -tokens)
            return FrameError(ErrorCode.RATE_LIMITED, "your tutor budget for today is used up")
        return Reservation(session_id, user_id, day, tokens)

    async def settle(self, reservation: Reservation, tokens: int) -> None:
        """Replace a turn's reservation with the ``tokens`` it really spent."""
        change = tokens - reservation.tokens
        await self._limits.charge(SessionTokens(reservation.session_id), change)
        await self._limits.charge(UserTokens(reservation.user_id, reservation.day), change)

    async def charge(self, session_id: int, user_id: int, tokens: int) -> None:
        """Count a finished turn's tokens against the session's and the asker's budgets."""
        day = _day(self._clock())
        await self._limits.charge(SessionTokens(session_id), tokens)
        await self._limits.charge(UserTokens(user_id, day), tokens)


def _day(now: float) -> int:
    return int(now // _DAY_S)
