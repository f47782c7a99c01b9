"""Deleting an account (``DELETE /api/users/me``; GDPR article 17).

What is the user's goes: their topics (with materials, files no other topic shares, goals and
quiz cards), their goals and progress elsewhere, their memberships and bans. What other people
were part of stays: a session they created lives on under its longest-standing host (or member;
one nobody else is in goes with them), and what they said in other people's sessions stays in
the transcript under the name :data:`DELETED_NAME`. Events still on their way to the transcript
are renamed as they are written (:class:`server.rooms.transcript.TranscriptStore`).

The user row itself stays as a tombstone (no name, no password, ``deleted_at`` set) rather than
going: transcript events keep its id, and an id that came back for a new account (SQLite reuses
the highest rowid) would hand that account the old one's words and any of its unexpired tokens.

The tombstone is written last (materials commit one by one before it, as a topic deletion
does): a deletion cut short by a database error can simply be asked for again, with the same
password.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.sessions import MemberRole, SessionStatus
from server.db.material_models import Material
from server.db.models import (
    Membership,
    SessionBan,
    StudySession,
    Topic,
    TranscriptEvent,
    User,
    utcnow,
)
from server.db.progress_models import ConceptProgress, Goal
from server.deleted_users import DELETED_NAME, anonymised, tombstone_username
from server.materials.announce import active_sessions
from server.materials.service import delete_material
from server.materials.storage import BlobStore

# Transcript rows rewritten per statement batch: bounded memory however long the history.
_REWRITE_BATCH = 500


@dataclass(slots=True)
class Removal:
    """What the live rooms must hear once the deletion is committed."""

    left: list[int] = field(default_factory=list)
    """Active sessions the user was a member of: close their sockets, refuse their tokens."""
    ended: list[int] = field(default_factory=list)
    """Those of them that went with the user (nobody else was in them): close their gates."""
    topicless: list[int] = field(default_factory=list)
    """Active sessions whose topic went with the user: they go on without one."""


async def remove_account(db: AsyncSession, store: BlobStore, user: User) -> Removal:
    """Delete ``user``'s data and leave the tombstone; commits. See the module docstring."""
    removal = Removal()
    removal.left = list(
        await db.scalars(
            select(Membership.session_id)
            .join(StudySession, StudySession.id == Membership.session_id)
            .where(Membership.user_id == user.id, StudySession.status == SessionStatus.ACTIVE)
        )
    )
    await _hand_over_sessions(db, user, removal)
    await _remove_topics(db, store, user, removal)
    await db.execute(delete(Goal).where(Goal.user_id == user.id))
    await db.execute(delete(ConceptProgress).where(ConceptProgress.user_id == user.id))
    await db.execute(delete(Membership).where(Membership.user_id == user.id))
    await db.execute(delete(SessionBan).where(SessionBan.user_id == user.id))
    await _anonymise_transcript(db, user.id)
    await db.execute(
        update(User)
        .where(User.id == user.id)
        .values(
            username=tombstone_username(user.id),
            display_name=DELETED_NAME,
            password_hash="",  # matches no password (see verify_password)
            deleted_at=utcnow(),
        )
    )
    await db.commit()
    return removal


async def _hand_over_sessions(db: AsyncSession, user: User, removal: Removal) -> None:
    """Each session the user created goes to its longest-standing other host, else its
    longest-standing member (made a host); one nobody else is in goes with the user."""
    owned = list(await db.scalars(select(StudySession).where(StudySession.owner_id == user.id)))
    for session in owned:
        heir = await db.scalar(
            select(Membership)
            .where(Membership.session_id == session.id, Membership.user_id != user.id)
            # Hosts first ("host" < "member"), then by seniority.
            .order_by(Membership.role, Membership.joined_at, Membership.user_id)
            .limit(1)
        )
        if heir is None:
            if session.status == SessionStatus.ACTIVE:
                removal.ended.append(session.id)
            await db.delete(session)
            continue
        heir.role = MemberRole.HOST.value
        session.owner_id = heir.user_id
    await db.flush()


async def _remove_topics(db: AsyncSession, store: BlobStore, user: User, removal: Removal) -> None:
    topics = list(await db.scalars(select(Topic).where(Topic.owner_id == user.id)))
    for topic in topics:
        removal.topicless.extend(await active_sessions(db, topic.id))
        # One by one: each drops its file only when no other material still has those bytes.
        for material in list(
            await db.scalars(select(Material).where(Material.topic_id == topic.id))
        ):
            await delete_material(db, store, material)
        await db.execute(delete(Topic).where(Topic.id == topic.id))
    await db.flush()


async def _anonymise_transcript(db: AsyncSession, user_id: int) -> None:
    """Every stored frame the user is named in (``user``) names :data:`DELETED_NAME` instead."""
    after = 0
    while True:
        rows = (
            await db.execute(
                select(TranscriptEvent.id, TranscriptEvent.body)
                .where(TranscriptEvent.user_id == user_id, TranscriptEvent.id > after)
                .order_by(TranscriptEvent.id)
                .limit(_REWRITE_BATCH)
            )
        ).all()
        if not rows:
            return
        for row_id, body in rows:
            await db.execute(
                update(TranscriptEvent)
                .where(TranscriptEvent.id == row_id)
                .values(body=anonymised(body))
            )
        after = rows[-1][0]
