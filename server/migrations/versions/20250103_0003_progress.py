"""Study data: goals, concept progress, and the projection cursor over the transcript.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported from the models, like every revision.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "goals",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "topic_id", BigId, sa.ForeignKey("topics.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("target", sa.Float(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_goals_user_topic", "goals", ["user_id", "topic_id"])
    op.create_table(
        "concept_progress",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "topic_id", BigId, sa.ForeignKey("topics.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("concept_key", sa.String(100), nullable=False),
        sa.Column("concept", sa.String(100), nullable=False),
        sa.Column("mastery", sa.Float(), nullable=False),
        sa.Column("reviews", sa.Integer(), nullable=False),
        sa.Column("card", sa.Text(), nullable=True),
        sa.Column("next_review_at", Timestamp, nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.UniqueConstraint("user_id", "topic_id", "concept_key", name="uq_concept_progress_key"),
    )
    op.create_table(
        "projection_cursors",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("pending_id", sa.BigInteger(), nullable=True),
        sa.Column("pending_at", Timestamp, nullable=True),
    )
    op.create_table(
        "projected_events",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("transcript_id", sa.BigInteger(), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("projected_events")
    op.drop_table("projection_cursors")
    op.drop_table("concept_progress")
    op.drop_index("ix_goals_user_topic", table_name="goals")
    op.drop_table("goals")
