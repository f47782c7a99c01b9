"""Dependencies shared by the routes, as ``Annotated`` aliases.

``DbDep`` is one ``AsyncSession`` per request; routes commit what they change, and anything
not committed is rolled back when the request ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.errors import ErrorCode
from protocol.sessions import MemberRole, SessionStatus
from server.api.errors import ApiError
from server.auth.tokens import AccessClaims, InvalidToken, decode_access_token
from server.config import Settings
from server.db.models import Membership, StudySession, Topic, User, utcnow
from server.live.ports import LiveStateUnavailable
from server.membership import Verdict, check_membership
from server.services import Services

log = logging.getLogger(__name__)

# auto_error=False: a missing token must get our 401 (with WWW-Authenticate), not a 403.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_db(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    async with services.db() as session:
        yield session


DbDep = Annotated[AsyncSession, Depends(get_db)]
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


def unauthorized(detail: str) -> ApiError:
    return ApiError(
        status.HTTP_401_UNAUTHORIZED,
        detail,
        ErrorCode.UNAUTHENTICATED,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def get_access(settings: SettingsDep, services: ServicesDep, token: TokenDep) -> AccessClaims:
    """The claims of a valid access token; 401 when it is missing, invalid, expired or
    revoked (logged out, on any process)."""
    if not token:
        raise unauthorized("Not authenticated")
    try:
        claims = decode_access_token(settings, token)
    except InvalidToken:
        raise unauthorized("Could not validate credentials") from None
    if claims.token_id is not None and await _revoked(services, claims.token_id):
        raise unauthorized("this token was logged out")
    return claims


# How long a request waits to learn whether its token was logged out. Live state that is down
# or stalled must not take REST with it: past this, a logged-out token works until live state
# answers again (or the token expires). See docs/guarantees.md.
REVOCATION_CHECK_S = 0.25
_unchecked_warned_at = [float("-inf")]


async def _revoked(services: Services, token_id: str) -> bool:
    try:
        async with asyncio.timeout(REVOCATION_CHECK_S):
            return await services.live.revocations.revoked(token_id)
    except (LiveStateUnavailable, TimeoutError):
        now = time.monotonic()
        if now - _unchecked_warned_at[0] >= 10.0:  # one line per spell, not one per request
            _unchecked_warned_at[0] = now
            log.warning("token revocations unreadable: live state unavailable or slow")
        return False


AccessDep = Annotated[AccessClaims, Depends(get_access)]


async def get_current_user(db: DbDep, claims: AccessDep) -> User:
    """The user of a valid access token; 401 when it is missing, invalid, expired, revoked, or
    its account was deleted."""
    user_id = claims.user_id
    user = await db.get(User, user_id)
    if user is None or user.deleted_at is not None:
        # A valid signature for a user that no longer exists (or deleted their account).
        raise unauthorized("Could not validate credentials")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


# Access rules shared by several routes. Each raises the HTTP error a client should see.

TOPIC_NOT_FOUND = "topic not found"
SESSION_NOT_FOUND = "session not found"
NOT_A_MEMBER = "not a member of this session"
SESSION_ENDED = "session has ended"
HOSTS_ONLY = "only the session's hosts can do this"


def not_found(detail: str) -> ApiError:
    return ApiError(status.HTTP_404_NOT_FOUND, detail, ErrorCode.NOT_FOUND)


def forbidden(detail: str) -> ApiError:
    return ApiError(status.HTTP_403_FORBIDDEN, detail, ErrorCode.FORBIDDEN)


def session_ended() -> ApiError:
    return ApiError(status.HTTP_409_CONFLICT, SESSION_ENDED, ErrorCode.SESSION_ENDED)


async def get_visible_topic(db: AsyncSession, user: User, topic_id: int) -> Topic:
    """The topic if ``user`` owns it or is a member of a session on it; else 404.

    Other people's topics answer exactly like missing ones, so ids reveal nothing.
    """
    member_of_session_on_it = exists().where(
        StudySession.topic_id == Topic.id,
        Membership.session_id == StudySession.id,
        Membership.user_id == user.id,
    )
    visible = (Topic.owner_id == user.id) | member_of_session_on_it
    topic = await db.scalar(select(Topic).where(Topic.id == topic_id, visible))
    if topic is None:
        raise not_found(TOPIC_NOT_FOUND)
    return topic


async def get_owned_topic(db: AsyncSession, user: User, topic_id: int, detail: str) -> Topic:
    """The topic if ``user`` owns it; 403 with ``detail`` if they only study it, 404 if they
    cannot see it."""
    topic = await get_visible_topic(db, user, topic_id)
    if topic.owner_id != user.id:
        raise forbidden(detail)
    return topic


async def get_member_session(db: AsyncSession, user: User, session_id: int) -> StudySession:
    """The session if ``user`` is a member, ended or not: 404 if there is none, 403 if not a
    member."""
    check = await check_membership(db, session_id, user.id)
    if check.verdict is Verdict.NO_SUCH_SESSION or check.session is None:
        raise not_found(SESSION_NOT_FOUND)
    if check.verdict is Verdict.NOT_A_MEMBER:
        raise forbidden(NOT_A_MEMBER)
    return check.session


async def get_hosted_session(db: AsyncSession, user: User, session_id: int) -> StudySession:
    """The session if ``user`` hosts it: 404 if there is none (or they are not a member), 403
    if they are a member but not a host."""
    session = await get_member_session(db, user, session_id)
    role = await db.scalar(
        select(Membership.role).where(
            Membership.session_id == session_id, Membership.user_id == user.id
        )
    )
    if role != MemberRole.HOST.value:
        raise forbidden(HOSTS_ONLY)
    return session


async def find_current_session(db: AsyncSession, user: User) -> StudySession | None:
    """The caller's session that has not ended with the latest activity, if any."""
    result = await db.scalar(
        select(StudySession)
        .join(Membership, Membership.session_id == StudySession.id)
        .where(Membership.user_id == user.id, StudySession.status == SessionStatus.ACTIVE)
        .order_by(Membership.last_active_at.desc(), StudySession.id.desc())
        .limit(1)
    )
    return result


async def touch_membership(
    db: AsyncSession, session_id: int, user_id: int, role: MemberRole = MemberRole.MEMBER
) -> None:
    """Make ``user_id`` a member of ``session_id`` (if not already, with ``role``) and mark
    them active now; an existing member keeps their role.

    One upsert, so two concurrent joins by the same user cannot collide. Not committed.
    """
    now = utcnow()
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Membership).values(
        session_id=session_id,
        user_id=user_id,
        joined_at=now,
        last_active_at=now,
        role=role.value,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Membership.session_id, Membership.user_id],
        set_={"last_active_at": stmt.excluded.last_active_at},
    )
    await db.execute(stmt)
