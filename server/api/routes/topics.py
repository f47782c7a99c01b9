"""Topics: what a session studies. Owned by their creator, visible to their sessions' members."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from server.api.deps import (
    CurrentUser,
    DbDep,
    ServicesDep,
    SettingsDep,
    find_current_session,
    get_owned_topic,
    get_visible_topic,
    not_found,
)
from server.api.schemas import PathId, TopicCreate, TopicPublic, TopicUpdate, error_responses
from server.db.material_models import Material
from server.db.models import Topic
from server.materials.announce import active_sessions, tell_topic_changed
from server.materials.service import delete_material
from server.materials.storage import BlobStore
from server.topics import topic_payload

log = logging.getLogger(__name__)
OWNER_ONLY = "only the topic's owner can change or delete it"

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


@router.patch(
    "/{topic_id}",
    response_model=TopicPublic,
    responses=error_responses(401, (403, OWNER_ONLY), 404, 422),
)
async def update_topic(
    topic_id: PathId, body: TopicUpdate, user: CurrentUser, db: DbDep, services: ServicesDep
) -> Topic:
    """Rename the topic or change its description; its sessions' rooms get ``topic.changed``."""
    topic = await get_owned_topic(db, user, topic_id, OWNER_ONLY)
    if body.title is not None:
        topic.title = body.title
    if "description" in body.model_fields_set:
        topic.description = body.description or ""
    await db.commit()
    await db.refresh(topic)
    sessions = await active_sessions(db, topic.id)
    await tell_topic_changed(services.hub, services.live, sessions, topic_payload(topic))
    return topic


@router.delete(
    "/{topic_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, (403, OWNER_ONLY), 404),
)
async def delete_topic(
    topic_id: PathId, user: CurrentUser, db: DbDep, settings: SettingsDep, services: ServicesDep
) -> Response:
    """Delete the topic with its materials (and their files, unless another topic has the same
    bytes), goals, progress and quiz cards. Its sessions stay, with their transcript, and no
    topic; their rooms get ``topic.changed`` with ``topic: null``."""
    topic = await get_owned_topic(db, user, topic_id, OWNER_ONLY)
    sessions = await active_sessions(db, topic.id)
    store = BlobStore(settings.data_dir)
    # One by one: each drops its file only when no other material still has those bytes.
    for material in list(await db.scalars(select(Material).where(Material.topic_id == topic.id))):
        await delete_material(db, store, material)
    await db.delete(await db.get(Topic, topic_id))
    await db.commit()
    await tell_topic_changed(services.hub, services.live, sessions, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
