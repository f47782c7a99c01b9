"""Initial schema: users, topics, sessions, memberships, transcript events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported from the models: a migration must keep describing the
# schema of its own revision when the models move on.
# Ids and the columns referring to them are INTEGER on SQLite, where only that exact type is
# the 64-bit rowid.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "topics",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "owner_id",
            BigId,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_topics_owner", "topics", ["owner_id", "id"])
    op.create_table(
        "sessions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column(
            "topic_id",
            BigId,
            sa.ForeignKey("topics.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "owner_id",
            BigId,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("join_code", sa.String(16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("ended_at", Timestamp, nullable=True),
        sa.UniqueConstraint("join_code"),
    )
    op.create_table(
        "memberships",
        sa.Column(
            "session_id",
            BigId,
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            BigId,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("joined_at", Timestamp, nullable=False),
        sa.Column("last_active_at", Timestamp, nullable=False),
    )
    op.create_index("ix_memberships_user_active", "memberships", ["user_id", "last_active_at"])
    op.create_table(
        "transcript_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "session_id",
            BigId,
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.UniqueConstraint("session_id", "seq", name="uq_transcript_session_seq"),
    )
    op.create_index("ix_transcript_user_time", "transcript_events", ["user_id", "created_at"])
    op.create_index("ix_transcript_session_type", "transcript_events", ["session_id", "type"])


def downgrade() -> None:
    op.drop_table("transcript_events")
    op.drop_table("memberships")
    op.drop_table("sessions")
    op.drop_table("topics")
    op.drop_table("users")
