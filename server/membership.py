"""Who belongs to a session: the one membership rule, for REST routes and room sockets alike.

:func:`check_membership` answers with a :class:`Verdict`; ``server.api.deps`` maps it to HTTP
errors and ``server.rooms.access`` to close codes. Whether the session exists is asked first
and membership second, so a non-member learns nothing about a session, not even that it ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.sessions import MemberRole, SessionStatus
from server.db.errors import is_database_unavailable
from server.db.models import Membership, StudySession


class Verdict(Enum):
    NO_SUCH_SESSION = "no_such_session"
    NOT_A_MEMBER = "not_a_member"
    ENDED = "ended"
    """A member of a session that has ended: it may be read, not joined or changed."""
    MEMBER = "member"
    """A member of a session that has not ended."""


@dataclass(frozen=True)
class MembershipCheck:
    verdict: Verdict
    session: StudySession | None
    """The session, unless the verdict is ``NO_SUCH_SESSION``."""


async def check_membership(db: AsyncSession, session_id: int, user_id: int) -> MembershipCheck:
    """Whether ``user_id`` is a member of ``session_id``, and whether that session has ended.

    Reads only; database errors propagate.
    """
    session = await db.get(StudySession, session_id)
    if session is None:
        return MembershipCheck(Verdict.NO_SUCH_SESSION, None)
    if await db.get(Membership, (session_id, user_id)) is None:
        return MembershipCheck(Verdict.NOT_A_MEMBER, session)
    if session.status == SessionStatus.ENDED:
        return MembershipCheck(Verdict.ENDED, session)
    return MembershipCheck(Verdict.MEMBER, session)


async def is_host(
    db_factory: async_sessionmaker[AsyncSession], session_id: int, user_id: int
) -> bool:
    """Whether ``user_id`` hosts ``session_id`` (a database outage answers no)."""
    try:
        async with db_factory() as db:
            role = await db.scalar(
                select(Membership.role).where(
                    Membership.session_id == session_id, Membership.user_id == user_id
                )
            )
    except Exception as exc:
        if is_database_unavailable(exc):
            return False
        raise
    return role == MemberRole.HOST.value
