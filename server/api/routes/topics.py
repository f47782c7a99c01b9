"""Topics: what a session studies. Owned by their creator, visible to their sessions' members."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, status
from sqlalchemy import select

from server.api.deps import (
    CurrentUser,
    DbDep,
    find_current_session,
    get_visible_topic,
    not_found,
)
from server.api.schemas import PathId, TopicCreate, TopicPublic, error_responses
from server.db.models import Topic

router = APIRouter(prefix="/api/topics", tags=["topics"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TopicPublic,
    responses=error_responses(401),
)
async def create_topic(body: TopicCreate, user: CurrentUser, db: DbDep) -> Topic:
    topic = Topic(owner_id=user.id, title=body.title, description=body.description or "")
    db.add(topic)
    await db.commit()
    return topic


@router.get("", response_model=list[TopicPublic], responses=error_responses(401))
async def list_topics(user: CurrentUser, db: DbDep) -> Sequence[Topic]:
    """The caller's own topics, newest first."""
    rows = await db.scalars(
        select(Topic).where(Topic.owner_id == user.id).order_by(Topic.id.desc())
    )
    return rows.all()


# Declared before /{topic_id} so "current" is not read as an id.
@router.get(
    "/current",
    response_model=TopicPublic,
    responses=error_responses(401, (404, "No current session, or it has no topic.")),
)
async def read_current_topic(user: CurrentUser, db: DbDep) -> Topic:
    """The topic of the caller's current session (see ``GET /api/sessions/current``)."""
    session = await find_current_session(db, user)
    topic = None
    if session is not None and session.topic_id is not None:
        topic = await db.get(Topic, session.topic_id)
    if topic is None:
        raise not_found("no current topic")
    return topic


@router.get("/{topic_id}", response_model=TopicPublic, responses=error_responses(401, 404))
async def read_topic(topic_id: PathId, user: CurrentUser, db: DbDep) -> Topic:
    """One topic the caller owns or studies in one of their sessions."""
    return await get_visible_topic(db, user, topic_id)
