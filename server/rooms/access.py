"""Who may open a room socket: the Origin allow-list, the participant token, the membership."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket

from protocol.errors import CloseCode
from protocol.events import UserRef
from server.auth.tokens import InvalidToken, decode_participant_token
from server.config import Settings
from server.db.errors import is_database_unavailable
from server.db.models import Topic
from server.live.ports import Gate
from server.membership import MembershipCheck, Verdict, check_membership
from server.rooms.context import RoomServices
from server.topics import topic_payload

log = logging.getLogger(__name__)


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """Browsers always send Origin; other clients may not, and cannot be forged into it."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    allowed = settings.allowed_origins
    if "*" in allowed or origin in allowed:
        return True
    if allowed:
        return False
    # No list configured: only the server's own origin (a page it served).
    host = websocket.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


@dataclass(frozen=True)
class Admission:
    user: UserRef
    topic: dict[str, Any] | None


class Refused(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def admit(services: RoomServices, session_id: int, token: str | None) -> Admission:
    """Check the token and the session's gate; raises :class:`Refused` with the close code.

    The participant token proves membership when it was minted (minutes ago, for this member
    and this session); what changed since (the session ended, the member was removed, the
    topic) is in live state's gate, so a join needs no database round trip. A gate that is not
    cached is filled from the database. Raises ``LiveStateUnavailable`` if live state is down.
    """
    if not token:
        raise Refused(CloseCode.UNAUTHORIZED, "a participant token is required")
    try:
        claims = decode_participant_token(services.settings, token)
    except InvalidToken:
        raise Refused(CloseCode.UNAUTHORIZED, "invalid or expired participant token") from None
    if claims.session_id != session_id:
        raise Refused(CloseCode.FORBIDDEN, "the token is for another session")
    user = UserRef(id=claims.user_id, name=claims.name)
    check = await services.live.gates.check(session_id, user.id)
    if check is None:
        admission = await _admit_from_database(services, session_id, user)
    else:
        if check.removed:
            raise Refused(*_REFUSALS[Verdict.NOT_A_MEMBER])
        if check.gate.ended:
            raise Refused(*_REFUSALS[Verdict.ENDED])
        admission = Admission(user, json.loads(check.gate.topic))
    services.activity.touch(session_id, user.id)
    return admission


# What a socket whose user fails the membership rule is closed with, and why.
_REFUSALS: dict[Verdict, tuple[CloseCode, str]] = {
    Verdict.NO_SUCH_SESSION: (CloseCode.FORBIDDEN, "no such session"),
    Verdict.NOT_A_MEMBER: (CloseCode.FORBIDDEN, "not a member of this session"),
    Verdict.ENDED: (CloseCode.SESSION_ENDED, "the session has ended"),
}


async def _admit_from_database(services: RoomServices, session_id: int, user: UserRef) -> Admission:
    try:
        check, topic = await _read_membership(services, session_id, user)
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        # The token was issued to a member minutes ago; during a database outage it is the
        # best evidence there is, and refusing would take live rooms down with the database.
        log.warning("membership check skipped, database unavailable: %s", type(exc).__name__)
        return Admission(user, None)
    if check.session is not None and check.verdict in (Verdict.MEMBER, Verdict.ENDED):
        # Only facts of the session are cached, never this user's membership: the next
        # member's token is their own proof.
        gate = Gate(ended=check.verdict is Verdict.ENDED, topic=json.dumps(topic))
        await services.live.gates.fill(session_id, gate)
    refusal = _REFUSALS.get(check.verdict)
    if refusal is not None or check.session is None:
        raise Refused(*(refusal or _REFUSALS[Verdict.NO_SUCH_SESSION]))
    return Admission(user, topic)


async def _read_membership(
    services: RoomServices, session_id: int, user: UserRef
) -> tuple[MembershipCheck, dict[str, Any] | None]:
    async with services.db() as db:
        check = await check_membership(db, session_id, user.id)
        session = check.session
        if session is None or session.topic_id is None:
            return check, None
        topic = await db.get(Topic, session.topic_id)
        return check, topic_payload(topic) if topic is not None else None
