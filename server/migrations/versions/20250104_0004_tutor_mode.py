"""Each session's teaching mode: ``socratic`` (the default), ``explain`` or ``off``.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both engines: no table rebuild, existing sessions get the default.
    op.add_column(
        "sessions",
        sa.Column("tutor_mode", sa.String(16), nullable=False, server_default="socratic"),
    )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("tutor_mode")
