"""Accounts: sign-up and the caller's own profile."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from protocol.errors import ErrorCode
from server.api.deps import CurrentUser, DbDep
from server.api.errors import ApiError
from server.api.schemas import UserCreate, UserPublic, error_responses
from server.auth.passwords import hash_password
from server.db.models import User

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
