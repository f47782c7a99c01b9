"""Study sessions: create, join by code, inspect, switch topic, end, read the transcript.

A session's room (the WebSocket) learns of changes made here through room events, published
after the change is committed so members never see a change that was rolled back.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from protocol.events import (
    MemberRemovedEvent,
    MemberRoleEvent,
    SessionEndedEvent,
    SessionUpdatedEvent,
    TopicChangedEvent,
    UserRef,
    now_iso,
)
from protocol.sessions import MemberRole, SessionStatus
from server.api.deps import (
    HOSTS_ONLY,
    SESSION_ENDED,
    SESSION_NOT_FOUND,
    CurrentUser,
    DbDep,
    ServicesDep,
    SettingsDep,
    find_current_session,
    forbidden,
    get_hosted_session,
    get_member_session,
    get_visible_topic,
    not_found,
    session_ended,
    touch_membership,
)
from server.api.schemas import (
    MAX_ID,
    JoinCode,
    MemberPublic,
    MemberRoleUpdate,
    PathId,
    ReviewSchedule,
    SessionCreate,
    SessionDetail,
    SessionJoin,
    SessionPublic,
    SessionTopicUpdate,
    SessionUpdate,
    TopicPublic,
    TranscriptEntry,
    error_responses,
)
from server.db.models import (
    Membership,
    SessionBan,
    StudySession,
    Topic,
    TranscriptEvent,
    User,
    utcnow,
)
from server.live.ports import LiveStateUnavailable
from server.progress.cards import QuizCards
from server.topics import topic_payload as room_topic

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/sessions", tags=["sessions"])

# No 0/O or 1/I: codes are read aloud and typed from screens.
JOIN_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
JOIN_CODE_LENGTH = 8
# 32**8 codes: a collision is already unlikely; several in a row means something else is wrong.
_JOIN_CODE_ATTEMPTS = 5
DEFAULT_PAGE = 100


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


def normalize_join_code(code: str) -> str:
    return "".join(code.split()).upper()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionPublic,
    responses=error_responses(401, 404),
)
async def create_session(body: SessionCreate, user: CurrentUser, db: DbDep) -> StudySession:
    """Start a session on a topic the caller can see; the caller is its owner and first member."""
    topic = await get_visible_topic(db, user, body.topic_id)
    # Plain values: a rollback below expires every loaded row.
    user_id, topic_id, title = user.id, topic.id, body.title or topic.title
    for _ in range(_JOIN_CODE_ATTEMPTS):
        session = StudySession(
            title=title,
            topic_id=topic_id,
            owner_id=user_id,
            status=SessionStatus.ACTIVE,
            join_code=new_join_code(),
        )
        db.add(session)
        try:
            await db.flush()
        except IntegrityError:
            await db.rollback()
            continue
        await touch_membership(db, session.id, user_id, MemberRole.HOST)
        await db.commit()
        return session
    raise RuntimeError("no free join code found")


@router.get("", response_model=list[SessionPublic], responses=error_responses(401, 422))
async def list_sessions(
    user: CurrentUser,
    db: DbDep,
    settings: SettingsDep,
    status_: Annotated[
        SessionStatus | None,
        Query(alias="status", description="Only sessions in this state: active or ended."),
    ] = None,
    topic_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only sessions on this topic.")
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_ID, description="At most this many; capped at the server's page size."),
    ] = DEFAULT_PAGE,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only sessions older than this one (the next page)."),
    ] = None,
) -> list[StudySession]:
    """The sessions the caller is a member of, newest first; page with ``before_id`` set to
    the last id of the previous page."""
    query = (
        select(StudySession)
        .join(Membership, Membership.session_id == StudySession.id)
        .where(Membership.user_id == user.id)
        .order_by(StudySession.id.desc())
        .limit(min(limit, settings.page_max))
    )
    if status_ is not None:
        query = query.where(StudySession.status == status_.value)
    if topic_id is not None:
        query = query.where(StudySession.topic_id == topic_id)
    if before_id is not None:
        query = query.where(StudySession.id < before_id)
    return list(await db.scalars(query))


@router.post(
    "/join",
    response_model=SessionPublic,
    responses=error_responses(401, (404, "No session has this code."), (409, SESSION_ENDED)),
)
async def join_session(
    body: SessionJoin, user: CurrentUser, db: DbDep, services: ServicesDep
) -> StudySession:
    """Become a member of the session with this code. Joining again is harmless."""
    session = await db.scalar(
        select(StudySession).where(StudySession.join_code == normalize_join_code(body.join_code))
    )
    if session is None:
        raise not_found("unknown join code")
    if session.status == SessionStatus.ENDED:
        raise session_ended()
    member = await db.get(Membership, (session.id, user.id))
    if member is None and await db.get(SessionBan, (session.id, user.id)) is not None:
        raise forbidden("a host removed you from this session")
    if session.locked and member is None:
        raise forbidden("the session is locked: its hosts let nobody new in")
    await touch_membership(db, session.id, user.id)
    await db.commit()
    if member is None:
        # Back after leaving: the tokens minted for them from now on are good again. With live
        # state down the join stands; the gate's old mark goes with its expiry.
        try:
            await services.live.gates.restore_member(session.id, user.id)
        except LiveStateUnavailable:
            log.warning("session %s: rejoin of %s not written to live state", session.id, user.id)
    return session


@router.get(
    "/current",
    response_model=SessionPublic,
    responses=error_responses(401, (404, "The caller has no session that has not ended.")),
)
async def read_current_session(user: CurrentUser, db: DbDep) -> StudySession:
    """The caller's most recently active session that has not ended."""
    session = await find_current_session(db, user)
    if session is None:
        raise not_found("no current session")
    return session


@router.get(
    "/{session_id}",
    response_model=SessionDetail,
    responses=error_responses(401, 403, 404),
)
async def read_session(session_id: PathId, user: CurrentUser, db: DbDep) -> SessionDetail:
    """The session with its members (in joining order) and its topic."""
    session = await get_member_session(db, user, session_id)
    rows = await db.execute(
        select(User, Membership.joined_at, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.session_id == session.id)
        .order_by(Membership.joined_at, User.id)
    )
    members = [
        MemberPublic(
            id=member.id,
            username=member.username,
            display_name=member.display_name,
            joined_at=joined_at,
            role=MemberRole(role),
        )
        for member, joined_at, role in rows
    ]
    topic = await db.get(Topic, session.topic_id) if session.topic_id is not None else None
    return SessionDetail(
        **SessionPublic.model_validate(session).model_dump(),
        members=members,
        topic=TopicPublic.model_validate(topic) if topic is not None else None,
    )


@router.patch(
    "/{session_id}",
    response_model=SessionPublic,
    responses=error_responses(401, (403, HOSTS_ONLY), 404, (409, SESSION_ENDED), 422),
)
async def update_session(
    session_id: PathId,
    body: SessionUpdate,
    user: CurrentUser,
    db: DbDep,
    services: ServicesDep,
) -> StudySession:
    """Hosts: rename the session, set how the tutor teaches (``off`` refuses asks at once, on
    every process), or lock it against new joins. The room gets ``session.updated``."""
    session = await get_hosted_session(db, user, session_id)
    if session.status == SessionStatus.ENDED:
        raise session_ended()
    if body.title is not None:
        session.title = body.title
    if body.tutor_mode is not None:
        session.tutor_mode = body.tutor_mode.value
    if body.locked is not None:
        session.locked = body.locked
    await db.commit()
    await db.refresh(session)
    shown = SessionPublic.model_validate(session).model_dump(mode="json")
    await services.hub.publish(session.id, SessionUpdatedEvent(session=shown, ts=now_iso()))
    return session


@router.put(
    "/{session_id}/members/{user_id}",
    response_model=MemberPublic,
    responses=error_responses(401, (403, HOSTS_ONLY), 404, 422),
)
async def set_member_role(
    session_id: PathId,
    user_id: PathId,
    body: MemberRoleUpdate,
    user: CurrentUser,
    db: DbDep,
    services: ServicesDep,
) -> MemberPublic:
    """Hosts: make a member a host, or a host a member again. The creator stays a host.
    The room gets ``member.role``, so every page shows (or hides) a host's controls at once."""
    session = await get_hosted_session(db, user, session_id)
    membership = await db.get(Membership, (session_id, user_id))
    if membership is None:
        raise not_found("no such member")
    if user_id == session.owner_id and body.role is not MemberRole.HOST:
        raise forbidden("the session's creator stays a host")
    membership.role = body.role.value
    await db.commit()
    member = await db.get(User, user_id)
    assert member is not None
    changed = MemberRoleEvent(
        user=UserRef(id=member.id, name=member.display_name),
        role="host" if body.role is MemberRole.HOST else "member",
        ts=now_iso(),
    )
    await services.hub.publish(session_id, changed)
    return MemberPublic(
        id=member.id,
        username=member.username,
        display_name=member.display_name,
        joined_at=membership.joined_at,
        role=body.role,
    )


@router.delete(
    "/{session_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, (403, HOSTS_ONLY), 404),
)
async def remove_member(
    session_id: PathId, user_id: PathId, user: CurrentUser, db: DbDep, services: ServicesDep
) -> Response:
    """A host removes a member (who may not join again), or a member leaves (and may rejoin).
    Their sockets close with 4403 on every process and the room gets ``member.removed``; the
    participant tokens they hold stop working at once."""
    session = await get_member_session(db, user, session_id)
    leaving = user_id == user.id
    if not leaving:
        session = await get_hosted_session(db, user, session_id)
    if user_id == session.owner_id:
        raise forbidden("the session's creator cannot leave or be removed; end it instead")
    membership = await db.get(Membership, (session_id, user_id))
    if membership is None:
        raise not_found("no such member")
    gone = await db.get(User, user_id)
    assert gone is not None
    await db.delete(membership)
    if not leaving:
        db.add(SessionBan(session_id=session_id, user_id=user_id))
    await db.commit()
    # Joins read removals from the gate: written before the room hears of it.
    await services.live.gates.remove_member(session_id, user_id)
    removed = MemberRemovedEvent(user=UserRef(id=gone.id, name=gone.display_name), ts=now_iso())
    await services.hub.publish(session_id, removed)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{session_id}/join-code",
    response_model=JoinCode,
    responses=error_responses(401, (403, HOSTS_ONLY), 404, (409, SESSION_ENDED)),
)
async def rotate_join_code(
    session_id: PathId, user: CurrentUser, db: DbDep, services: ServicesDep
) -> JoinCode:
    """Hosts: a new join code (a leaked one stops working at once); members stay members.
    The room gets ``session.updated`` with the new code."""
    session = await get_hosted_session(db, user, session_id)
    if session.status == SessionStatus.ENDED:
        raise session_ended()
    for _ in range(_JOIN_CODE_ATTEMPTS):
        session.join_code = new_join_code()
        try:
            await db.commit()
        except IntegrityError:
            await db.rollback()
            session = await get_hosted_session(db, user, session_id)
            continue
        await db.refresh(session)
        shown = SessionPublic.model_validate(session).model_dump(mode="json")
        await services.hub.publish(session.id, SessionUpdatedEvent(session=shown, ts=now_iso()))
        return JoinCode(join_code=session.join_code)
    raise RuntimeError("no free join code found")


@router.put(
    "/{session_id}/topic",
    response_model=SessionPublic,
    responses=error_responses(401, 403, 404, (409, SESSION_ENDED)),
)
async def switch_topic(
    session_id: PathId,
    body: SessionTopicUpdate,
    user: CurrentUser,
    db: DbDep,
    services: ServicesDep,
) -> StudySession:
    """Study another topic the caller can see; the room gets a ``topic.changed`` event."""
    session = await get_member_session(db, user, session_id)
    if session.status == SessionStatus.ENDED:
        raise session_ended()
    topic = await get_visible_topic(db, user, body.topic_id)
    topic_payload = TopicPublic.model_validate(topic).model_dump(mode="json")
    # Conditional, so a switch racing an end cannot announce a topic after the end.
    switched = await db.scalar(
        update(StudySession)
        .where(StudySession.id == session.id, StudySession.status == SessionStatus.ACTIVE)
        .values(topic_id=topic.id)
        .returning(StudySession.id)
    )
    if switched is None:
        raise session_ended()
    await db.commit()
    await db.refresh(session)
    # Joins read the topic from the gate: written before the room hears of the change.
    await services.live.gates.set_topic(session.id, json.dumps(room_topic(topic)))
    await services.hub.publish(session.id, TopicChangedEvent(topic=topic_payload, ts=now_iso()))
    return session


@router.post(
    "/{session_id}/end",
    response_model=SessionPublic,
    responses=error_responses(401, (403, "Only the session's owner can end it."), 404),
)
async def end_session(
    session_id: PathId, user: CurrentUser, db: DbDep, services: ServicesDep
) -> StudySession:
    """End the session; the room gets ``session.ended``. Ending it again changes nothing."""
    session = await db.get(StudySession, session_id)
    if session is None:
        raise not_found(SESSION_NOT_FOUND)
    if session.owner_id != user.id:
        raise forbidden("only the session's owner can end it")
    # Conditional, so of two concurrent calls exactly one announces the end.
    ended_now = await db.scalar(
        update(StudySession)
        .where(StudySession.id == session.id, StudySession.status == SessionStatus.ACTIVE)
        .values(status=SessionStatus.ENDED, ended_at=utcnow())
        .returning(StudySession.id)
    )
    await db.commit()
    await db.refresh(session)
    # Every time, not only when this call ended it: a retry after a failed write-through
    # (live state down) must still close the gate. From here on joins are refused.
    await services.live.gates.end(session.id)
    if ended_now is not None:
        await services.hub.publish(session.id, SessionEndedEvent(ts=now_iso()))
    return session


@router.get(
    "/{session_id}/review",
    response_model=ReviewSchedule,
    responses=error_responses(401, 403, 404),
)
async def read_review_schedule(
    session_id: PathId,
    user: CurrentUser,
    db: DbDep,
    settings: SettingsDep,
    services: ServicesDep,
) -> ReviewSchedule:
    """The caller's quiz cards on the session's topic: how many a ``review`` frame would pose
    now, and when the next one falls due (FSRS)."""
    session = await get_member_session(db, user, session_id)
    if session.topic_id is None:
        return ReviewSchedule(due=0, next_review_at=None)
    until = utcnow() + timedelta(seconds=settings.review_ahead_s)
    # The caller's own connection is done with; the cards read in a session of their own.
    await db.commit()
    schedule = await QuizCards(services.db).schedule(session.topic_id, user.id, until)
    return ReviewSchedule(due=schedule.due, next_review_at=schedule.next_review_at)


@router.get(
    "/{session_id}/messages",
    response_model=list[TranscriptEntry],
    responses=error_responses(401, 403, 404),
)
async def read_messages(
    session_id: PathId,
    user: CurrentUser,
    db: DbDep,
    settings: SettingsDep,
    after_seq: Annotated[
        int, Query(ge=0, le=MAX_ID, description="Only events with a greater seq.")
    ] = 0,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_ID, description="At most this many; capped at the server's page size."),
    ] = DEFAULT_PAGE,
) -> Response:
    """The persisted transcript: room events as members received them, in ``seq`` order.

    Page with ``after_seq`` = the last ``seq`` received. Events reach the transcript shortly
    after the room sees them; the live tail is on the socket.
    """
    await get_member_session(db, user, session_id)
    bodies = await db.scalars(
        select(TranscriptEvent.body)
        .where(TranscriptEvent.session_id == session_id, TranscriptEvent.seq > after_seq)
        .order_by(TranscriptEvent.seq)
        .limit(min(limit, settings.page_max))
    )
    # Each body already is the encoded frame: sent as stored, without decoding and re-encoding.
    return Response("[" + ",".join(bodies) + "]", media_type="application/json")
