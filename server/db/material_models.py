"""Uploaded study materials and the passages (chunks) search returns.

A material's file is stored once per content (``sha256``), however many topics hold it; its
rows say which topic holds it and what text was read from it.

The full-text index is not described here: it is engine-specific (a generated ``tsvector``
column with a GIN index on PostgreSQL, an FTS5 table kept by triggers on SQLite), created by
migration 0002 and queried in ``server.materials.search``. ``include_reflected_name`` keeps
schema comparisons from mistaking it for drift.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, BigId, UtcDateTime, utcnow

if TYPE_CHECKING:
    from alembic.runtime.environment import NameFilterParentNames, NameFilterType

FTS_TABLE = "material_chunks_fts"
SEARCH_VECTOR_COLUMN = "search_vector"
SEARCH_INDEX = "ix_material_chunks_search"


class Material(Base):
    __tablename__ = "materials"
    __table_args__ = (
        UniqueConstraint("topic_id", "sha256", name="uq_materials_topic_sha256"),
        # Deleting a material asks whether any other row still needs its file.
        Index("ix_materials_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    pages: Mapped[int | None] = mapped_column(Integer, nullable=True)
    chunks: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MaterialChunk(Base):
    __tablename__ = "material_chunks"
    __table_args__ = (
        UniqueConstraint("material_id", "ordinal", name="uq_material_chunks_material_ordinal"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text: Mapped[str] = mapped_column(Text)


def is_search_index_name(name: str | None) -> bool:
    """Whether a reflected table or index belongs to the engine-specific search index."""
    return name is not None and (name == SEARCH_INDEX or name.startswith(FTS_TABLE))


def include_reflected_name(
    name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames
) -> bool:
    """Alembic ``include_name`` hook: compare everything except the search index."""
    if type_ == "column":
        return not (
            parent_names.get("table_name") == MaterialChunk.__tablename__
            and name == SEARCH_VECTOR_COLUMN
        )
    if type_ in ("table", "index"):
        return not is_search_index_name(name)
    return True
