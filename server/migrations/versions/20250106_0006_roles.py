"""Hosts and members: each membership's role (the creator is a host), and locked sessions.

Revision ID: 0006
Revises: 0005
Create Date: 2025-01-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "memberships",
        sa.Column("role", sa.String(16), nullable=False, server_default="member"),
    )
    # Every session's creator hosts it.
    op.execute(
        "UPDATE memberships SET role = 'host' WHERE EXISTS (SELECT 1 FROM sessions "
        "WHERE sessions.id = memberships.session_id AND sessions.owner_id = memberships.user_id)"
    )
    op.add_column(
        "sessions",
        sa.Column("locked", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("sessions", "locked")
    op.drop_column("memberships", "role")
