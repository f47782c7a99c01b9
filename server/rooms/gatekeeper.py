"""Admitting a room socket: the participant token, then the session's gate in live state.

The token proves membership when it was minted (minutes ago, for this member and this
session); what changed since (the session ended, the member was removed, the topic) is in the
gate (``SessionGates``), so a join needs no database round trip. A gate that is not cached is
read from the database once per session however many members join at that moment: their
checks share one read of the session, its topic and its members, and the first fills the gate.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.errors import CloseCode
from protocol.events import UserRef
from protocol.sessions import SessionStatus
from server.auth.tokens import InvalidToken, decode_participant_token
from server.config import Settings
from server.db.errors import is_database_unavailable
from server.db.models import Membership, StudySession, Topic
from server.live.ports import Gate, SessionGates
from server.membership import Verdict
from server.rooms.access import Admission, Refused
from server.rooms.activity import ActivityRecorder
from server.rooms.single_flight import SingleFlight
from server.topics import topic_payload

log = logging.getLogger(__name__)

# What a socket whose user fails the membership rule is closed with, and why.
_REFUSALS: dict[Verdict, tuple[CloseCode, str]] = {
    Verdict.NO_SUCH_SESSION: (CloseCode.FORBIDDEN, "no such session"),
    Verdict.NOT_A_MEMBER: (CloseCode.FORBIDDEN, "not a member of this session"),
    Verdict.ENDED: (CloseCode.SESSION_ENDED, "the session has ended"),
}


@dataclass(frozen=True, slots=True)
class _Stored:
    """A session as the database holds it, for the gate and the membership rule."""

    ended: bool
    topic: dict[str, Any] | None
    members: frozenset[int]

    def verdict(self, user_id: int) -> Verdict:
        # Membership first, as ``server.membership`` does: a non-member learns nothing.
        if user_id not in self.members:
            return Verdict.NOT_A_MEMBER
        return Verdict.ENDED if self.ended else Verdict.MEMBER


class Gatekeeper:
    def __init__(
        self,
        settings: Settings,
        db: async_sessionmaker[AsyncSession],
        gates: SessionGates,
        activity: ActivityRecorder,
    ) -> None:
        self._settings = settings
        self._db = db
        self._gates = gates
        self._activity = activity
        self._reads: SingleFlight[int, _Stored | None] = SingleFlight()

    async def admit(self, session_id: int, token: str | None) -> Admission:
        """Check the token and the gate; raises :class:`Refused` with the close code, and
        ``LiveStateUnavailable`` if live state is down."""
        if not token:
            raise Refused(CloseCode.UNAUTHORIZED, "a participant token is required")
        try:
            claims = decode_participant_token(self._settings, token)
        except InvalidToken:
            raise Refused(CloseCode.UNAUTHORIZED, "invalid or expired participant token") from None
        if claims.session_id != session_id:
            raise Refused(CloseCode.FORBIDDEN, "the token is for another session")
        user = UserRef(id=claims.user_id, name=claims.name)
        check = await self._gates.check(session_id, user.id)
        if check is None:
            admission = await self._admit_from_database(session_id, user)
        else:
            if check.removed:
                raise Refused(*_REFUSALS[Verdict.NOT_A_MEMBER])
            if check.gate.ended:
                raise Refused(*_REFUSALS[Verdict.ENDED])
            admission = Admission(user, json.loads(check.gate.topic))
        self._activity.touch(session_id, user.id)
        return admission

    async def _admit_from_database(self, session_id: int, user: UserRef) -> Admission:
        try:
            stored = await self._reads.do(session_id, lambda: self._read_and_fill(session_id))
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            # The token was issued to a member minutes ago; during a database outage it is
            # the best evidence there is, and refusing would take live rooms down with it.
            log.warning("membership check skipped, database unavailable: %s", type(exc).__name__)
            return Admission(user, None)
        if stored is None:
            raise Refused(*_REFUSALS[Verdict.NO_SUCH_SESSION])
        verdict = stored.verdict(user.id)
        if verdict is Verdict.NOT_A_MEMBER and await self._is_member(session_id, user.id):
            # The shared read began before this user's join was committed.
            verdict = Verdict.ENDED if stored.ended else Verdict.MEMBER
        refusal = _REFUSALS.get(verdict)
        if refusal is not None:
            raise Refused(*refusal)
        return Admission(user, stored.topic)

    async def _is_member(self, session_id: int, user_id: int) -> bool:
        async with self._db() as db:
            return await db.get(Membership, (session_id, user_id)) is not None

    async def _read_and_fill(self, session_id: int) -> _Stored | None:
        async with self._db() as db:
            session = await db.get(StudySession, session_id)
            if session is None:
                return None
            topic = await db.get(Topic, session.topic_id) if session.topic_id is not None else None
            members = await db.scalars(
                select(Membership.user_id).where(Membership.session_id == session_id)
            )
            stored = _Stored(
                ended=session.status == SessionStatus.ENDED,
                topic=topic_payload(topic) if topic is not None else None,
                members=frozenset(members),
            )
        # Only facts of the session are cached, never the member list: each member's token
        # is their own proof, and removals are written through.
        await self._gates.fill(session_id, Gate(stored.ended, json.dumps(stored.topic)))
        return stored
