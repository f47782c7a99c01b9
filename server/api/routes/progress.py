"""The caller's concept progress: mastery and spaced-repetition schedule per concept.

Concepts are recorded from the rooms (see :mod:`server.progress.projector`), shortly after
the quiz answers and tutor assessments that move them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from server.api.deps import CurrentUser, DbDep
from server.api.progress_schemas import ConceptPublic
from server.api.schemas import MAX_ID, error_responses
from server.db.progress_models import ConceptProgress

router = APIRouter(prefix="/api/progress", tags=["progress"])


@router.get("", response_model=list[ConceptPublic], responses=error_responses(401))
async def read_progress(
    user: CurrentUser,
    db: DbDep,
    topic_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only concepts of this topic.")
    ] = None,
) -> Sequence[ConceptProgress]:
    """The caller's concepts, by topic and then by name; all topics without ``topic_id``."""
    query = (
        select(ConceptProgress)
        .where(ConceptProgress.user_id == user.id)
        .order_by(ConceptProgress.topic_id, ConceptProgress.concept_key)
    )
    if topic_id is not None:
        query = query.where(ConceptProgress.topic_id == topic_id)
    return (await db.scalars(query)).all()
