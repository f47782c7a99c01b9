"""Study goals: a target for one metric of the caller's own study on one topic.

A goal belongs to its creator alone; anyone else's goal answers like a missing one. Its
``progress`` is computed when it is read (see :mod:`server.progress.goals`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.deps import CurrentUser, DbDep, get_visible_topic, not_found
from server.api.progress_schemas import (
    ACCURACY_METRIC,
    ACCURACY_TARGET_ERROR,
    GoalCreate,
    GoalPublic,
    GoalUpdate,
)
from server.api.schemas import MAX_ID, PathId, error_responses
from server.db.models import User, utcnow
from server.db.progress_models import Goal
from server.progress.goals import goal_value, progress_of

router = APIRouter(prefix="/api/goals", tags=["goals"])

GOAL_NOT_FOUND = "goal not found"


async def _public(db: AsyncSession, goal: Goal) -> GoalPublic:
    value = await goal_value(db, goal, utcnow())
    return GoalPublic(
        id=goal.id,
        topic_id=goal.topic_id,
        title=goal.title,
        metric=goal.metric,
        target=goal.target,
        due_date=goal.due_date,
        progress=progress_of(value, goal.target),
        value=value,
        created_at=goal.created_at,
        since=goal.since,
    )


async def _own_goal(db: AsyncSession, user: User, goal_id: int) -> Goal:
    goal = await db.scalar(select(Goal).where(Goal.id == goal_id, Goal.user_id == user.id))
    if goal is None:
        raise not_found(GOAL_NOT_FOUND)
    return goal


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=GoalPublic,
    responses=error_responses(401, (404, "The topic is not visible to the caller.")),
)
async def create_goal(body: GoalCreate, user: CurrentUser, db: DbDep) -> GoalPublic:
    """Set a goal on a topic the caller can see; it counts activity from ``since`` (default:
    now) on."""
    await get_visible_topic(db, user, body.topic_id)
    now = utcnow()
    goal = Goal(
        user_id=user.id,
        topic_id=body.topic_id,
        title=body.title,
        metric=body.metric,
        target=body.target,
        due_date=body.due_date,
        created_at=now,
        since=body.since or now,
    )
    db.add(goal)
    await db.commit()
    return await _public(db, goal)


@router.get("", response_model=list[GoalPublic], responses=error_responses(401))
async def list_goals(
    user: CurrentUser,
    db: DbDep,
    topic_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only goals on this topic.")
    ] = None,
) -> list[GoalPublic]:
    """The caller's goals, oldest first."""
    query = select(Goal).where(Goal.user_id == user.id).order_by(Goal.id)
    if topic_id is not None:
        query = query.where(Goal.topic_id == topic_id)
    return [await _public(db, goal) for goal in await db.scalars(query)]


@router.get("/{goal_id}", response_model=GoalPublic, responses=error_responses(401, 404))
async def read_goal(goal_id: PathId, user: CurrentUser, db: DbDep) -> GoalPublic:
    return await _public(db, await _own_goal(db, user, goal_id))


@router.patch("/{goal_id}", response_model=GoalPublic, responses=error_responses(401, 404))
async def update_goal(
    goal_id: PathId, body: GoalUpdate, user: CurrentUser, db: DbDep
) -> GoalPublic:
    """Change the title, target, due date or ``since``; fields left out stay as they are."""
    goal = await _own_goal(db, user, goal_id)
    changes = body.model_dump(exclude_unset=True)
    target = changes.get("target")
    if goal.metric == ACCURACY_METRIC and target is not None and target > 1:
        # Shaped like every other invalid body, which the 422 of this route documents.
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "target"),
                    "msg": ACCURACY_TARGET_ERROR,
                    "input": target,
                }
            ]
        )
    for name, value in changes.items():
        setattr(goal, name, value)
    await db.commit()
    return await _public(db, goal)


@router.delete(
    "/{goal_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 404)
)
async def delete_goal(goal_id: PathId, user: CurrentUser, db: DbDep) -> Response:
    await db.delete(await _own_goal(db, user, goal_id))
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
