"""Goals count from a moment their owner may choose (``since``), by default their creation.

Revision ID: 0009
Revises: 0008
Create Date: 2025-01-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("goals", sa.Column("since", sa.DateTime(timezone=True), nullable=True))
    # Existing goals counted from their creation; they go on doing so.
    op.execute("UPDATE goals SET since = created_at")
    with op.batch_alter_table("goals") as batch:
        batch.alter_column("since", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    op.drop_column("goals", "since")
