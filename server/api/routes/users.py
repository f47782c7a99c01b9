"""Accounts: sign-up and the caller's own profile."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from protocol.errors import ErrorCode
from server.api.deps import CurrentUser, DbDep
from server.api.errors import ApiError
from server.api.schemas import UserCreate, UserPublic, UserUpdate, error_responses
from server.auth.passwords import hash_password, verify_password
from server.db.models import User
from server.export import export_user

router = APIRouter(prefix="/api/users", tags=["users"])

USERNAME_TAKEN = "username already taken"


def _taken() -> ApiError:
    return ApiError(status.HTTP_409_CONFLICT, USERNAME_TAKEN, ErrorCode.USERNAME_TAKEN)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=error_responses((409, "The username is taken.")),
)
async def create_user(body: UserCreate, db: DbDep) -> User:
    """Sign up. No token needed; log in afterwards with ``POST /api/auth/token``."""
    if await db.scalar(select(User.id).where(User.username == body.username)) is not None:
        raise _taken()
    user = User(
        username=body.username,
        display_name=body.display_name or body.username,
        password_hash=await hash_password(body.password),
    )
    db.add(user)
    try:
        await db.commit()
    except IntegrityError:
        # Someone took the name between our check and our insert.
        raise _taken() from None
    return user


@router.get("/me", response_model=UserPublic, responses=error_responses(401))
async def read_me(user: CurrentUser) -> User:
    """The caller's account."""
    return user


@router.patch(
    "/me",
    response_model=UserPublic,
    responses=error_responses(401, (403, "The current password is missing or wrong."), 422),
)
async def update_me(body: UserUpdate, user: CurrentUser, db: DbDep) -> User:
    """Change your display name, your password (give the current one too), or both; fields
    left out stay as they are."""
    if body.password is not None:
        if not await verify_password(body.current_password or "", user.password_hash):
            raise ApiError(status.HTTP_403_FORBIDDEN, "wrong current password", ErrorCode.FORBIDDEN)
        user.password_hash = await hash_password(body.password)
    if body.display_name is not None:
        user.display_name = body.display_name
    await db.commit()
    return user


@router.get("/me/export", responses=error_responses(401))
async def export_me(user: CurrentUser, db: DbDep) -> dict[str, Any]:
    """Everything stored about you, as one JSON document (GDPR article 20): the account, your
    topics and their materials (metadata; download each file from its content URL), your
    sessions, what you said in them, your goals, progress and tutor usage."""
    return await export_user(db, user)
