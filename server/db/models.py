"""Durable data: users, topics, sessions, memberships and the persisted room transcript.

Ids are integers, handed to clients as opaque values. Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from protocol.sessions import MemberRole, SessionStatus, TutorMode
from server.db.base import Base, BigId, UtcDateTime, utcnow

__all__ = [
    "Base",
    "BigId",
    "Membership",
    "StudySession",
    "Topic",
    "TranscriptEvent",
    "User",
    "UtcDateTime",
    "utcnow",
]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Set when the account was deleted: the row stays as a tombstone (server/account_removal.py).
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Topic(Base):
    __tablename__ = "topics"
    __table_args__ = (Index("ix_topics_owner", "owner_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class StudySession(Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    topic_id: Mapped[int | None] = mapped_column(
        ForeignKey("topics.id", ondelete="SET NULL"), nullable=True
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.ACTIVE.value)
    tutor_mode: Mapped[str] = mapped_column(
        String(16), default=TutorMode.SOCRATIC.value, server_default=TutorMode.SOCRATIC.value
    )
    # Locked: nobody new joins by code (members keep their place).
    locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    join_code: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_user_active", "user_id", "last_active_at"),)

    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    role: Mapped[str] = mapped_column(
        String(16), default=MemberRole.MEMBER.value, server_default=MemberRole.MEMBER.value
    )
    last_active_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SessionBan(Base):
    """A member a host removed: they may not join the session again."""

    __tablename__ = "session_bans"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TranscriptEvent(Base):
    """A room event as members saw it (``body`` is the exact frame), kept for history."""

    __tablename__ = "transcript_events"
    __table_args__ = (
        UniqueConstraint("session_id", "seq", name="uq_transcript_session_seq"),
        Index("ix_transcript_user_time", "user_id", "created_at"),
        Index("ix_transcript_session_type", "session_id", "type"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
