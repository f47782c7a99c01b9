"""Study materials: uploaded files, their passages, and a full-text index over the passages.

The index uses each engine's own full-text search. PostgreSQL: a generated ``tsvector`` column
(English configuration) with a GIN index. SQLite: an external-content FTS5 table over
``material_chunks``, kept in step by triggers. A later migration that rebuilds
``material_chunks`` on SQLite (batch mode copies the table) must recreate those triggers.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

# Porter stemming so "produces" finds "produce"; diacritics folded so "naive" finds "naïve".
_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE material_chunks_fts USING fts5("
    "text, content='material_chunks', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER material_chunks_fts_insert AFTER INSERT ON material_chunks BEGIN "
    "INSERT INTO material_chunks_fts(rowid, text) VALUES (new.id, new.text); END",
    # Also fires for rows removed by the cascade from materials and topics.
    "CREATE TRIGGER material_chunks_fts_delete AFTER DELETE ON material_chunks BEGIN "
    "INSERT INTO material_chunks_fts(material_chunks_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER material_chunks_fts_update AFTER UPDATE OF text ON material_chunks BEGIN "
    "INSERT INTO material_chunks_fts(material_chunks_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
    "INSERT INTO material_chunks_fts(rowid, text) VALUES (new.id, new.text); END",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "materials",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "topic_id",
            BigId,
            sa.ForeignKey("topics.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.UniqueConstraint("topic_id", "sha256", name="uq_materials_topic_sha256"),
    )
    op.create_index("ix_materials_sha256", "materials", ["sha256"])
    search_vector = []
    if dialect == "postgresql":
        search_vector.append(
            sa.Column(
                "search_vector",
                postgresql.TSVECTOR(),
                sa.Computed("to_tsvector('english'::regconfig, text)", persisted=True),
            )
        )
    op.create_table(
        "material_chunks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "material_id",
            BigId,
            sa.ForeignKey("materials.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        *search_vector,
        sa.UniqueConstraint("material_id", "ordinal", name="uq_material_chunks_material_ordinal"),
    )
    if dialect == "postgresql":
        op.create_index(
            "ix_material_chunks_search",
            "material_chunks",
            ["search_vector"],
            postgresql_using="gin",
        )
    elif dialect == "sqlite":
        for statement in _SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS material_chunks_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS material_chunks_fts")
    op.drop_table("material_chunks")
    op.drop_table("materials")
