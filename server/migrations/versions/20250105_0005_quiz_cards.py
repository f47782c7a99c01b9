"""Quiz cards: every quiz the tutor posed on a topic, to pose again when its concept is due.

Revision ID: 0005
Revises: 0004
Create Date: 2025-01-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported from the models, like every revision.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "quiz_cards",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("quiz_id", sa.String(32), nullable=False, unique=True),
        sa.Column(
            "topic_id",
            BigId,
            sa.ForeignKey("topics.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("concept_key", sa.String(100), nullable=False),
        sa.Column("concept", sa.String(100), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("choices", sa.Text(), nullable=False),
        sa.Column("answer", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_quiz_cards_topic_concept", "quiz_cards", ["topic_id", "concept_key"])


def downgrade() -> None:
    op.drop_index("ix_quiz_cards_topic_concept", table_name="quiz_cards")
    op.drop_table("quiz_cards")
