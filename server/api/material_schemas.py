"""Bodies of the study-material routes: materials and search results."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class MaterialPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    topic_id: int
    filename: str = Field(description="The uploaded file's name, cleaned for display.")
    content_type: str = Field(description="application/pdf, text/markdown or text/plain.")
    size_bytes: int
    sha256: str = Field(description="Hex SHA-256 of the file's bytes.")
    pages: int | None = Field(description="Pages of a PDF; null for text.")
    chunks: int = Field(description="Passages the file was cut into for search.")
    created_at: datetime


class SearchHit(BaseModel):
    material_id: int
    chunk_id: int
    text: str
    score: float = Field(description="Relevance; higher is better. Comparable within a result.")
    page: int | None = Field(default=None, description="1-based PDF page; null for text.")
    filename: str = Field(description="The name of the uploaded file the passage is from.")
