"""What the tutor can look up: passages of the topic's uploaded materials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Passage:
    material_id: int
    chunk_id: int
    text: str
    score: float
    page: int | None = None
    filename: str = ""
    """The uploaded file's name, as members see it in citations."""


class MaterialSearch(Protocol):
    async def search(self, topic_id: int, query: str, limit: int) -> list[Passage]:
        """The passages of ``topic_id``'s materials that best match ``query``, best first."""
        ...
