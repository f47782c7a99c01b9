"""Accounts: sign-up and the caller's own profile."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from protocol.errors import ErrorCode
from protocol.events import MemberRemovedEvent, UserRef, now_iso
from server.account_removal import Removal, remove_account
from server.api.deps import CurrentUser, DbDep, ServicesDep, SettingsDep
from server.api.errors import ApiError
from server.api.schemas import (
    AccountDeletion,
    UserCreate,
    UserPublic,
    UserUpdate,
    error_responses,
)
from server.auth.passwords import hash_password, verify_password
from server.db.models import User
from server.deleted_users import DELETED_NAME
from server.export import export_user
from server.live.ports import LiveStateUnavailable
from server.materials.announce import tell_topic_changed
from server.materials.storage import BlobStore
from server.services import Services

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/users", tags=["users"])

USERNAME_TAKEN = "username already taken"


def _wrong_password(what: str) -> ApiError:
    return ApiError(status.HTTP_403_FORBIDDEN, f"wrong {what}", ErrorCode.FORBIDDEN)


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
            raise _wrong_password("current password")
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


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, (403, "The password is wrong."), 422),
)
async def delete_me(
    body: AccountDeletion,
    user: CurrentUser,
    db: DbDep,
    settings: SettingsDep,
    services: ServicesDep,
) -> Response:
    """Delete your account (GDPR article 17). Your topics with their materials, goals and
    progress go, and so do your memberships; sessions you created stay with their longest-
    standing host or member (or go, if nobody else is in them); what you said in other
    people's sessions stays, shown as a deleted user. Every token of the account stops working
    at once, on every process, and your sockets close with 4403."""
    if not await verify_password(body.password, user.password_hash):
        raise _wrong_password("password")
    user_id = user.id
    removal = await remove_account(db, BlobStore(settings.data_dir), user)
    await _tell_live_state(services, user_id, removal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _tell_live_state(services: Services, user_id: int, removal: Removal) -> None:
    """After the commit: the gates refuse the user's participant tokens and the rooms close
    their sockets. With live state down the deletion stands: the account's tokens are refused
    at once anyway (the user row says so), its participant tokens once the gates expire."""
    gates = services.live.gates
    try:
        for session_id in removal.ended:
            await gates.end(session_id)
        for session_id in removal.left:
            # Joins read removals from the gate: written before the room hears of it.
            await gates.remove_member(session_id, user_id)
            gone = MemberRemovedEvent(user=UserRef(id=user_id, name=DELETED_NAME), ts=now_iso())
            await services.hub.publish(session_id, gone)
    except LiveStateUnavailable:
        log.warning("account %s deleted; live state not told: it is unavailable", user_id)
    await tell_topic_changed(services.hub, services.live, removal.topicless, None)
