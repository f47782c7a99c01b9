"""Logging in: a username and password for an access token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from server.api.deps import AccessDep, DbDep, ServicesDep, SettingsDep, unauthorized
from server.api.schemas import Token, error_responses
from server.auth.passwords import verify_password
from server.auth.tokens import issue_access_token
from server.db.models import User

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=Token,
    responses=error_responses((401, "Wrong username or password.")),
)
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], db: DbDep, settings: SettingsDep
) -> Token:
    """OAuth2 password flow: form fields ``username`` and ``password``."""
    # No stored username holds NUL (see Username); PostgreSQL would refuse to even compare it.
    username = form.username if "\x00" not in form.username else None
    user = (
        await db.scalar(select(User).where(User.username == username, User.deleted_at.is_(None)))
        if username
        else None
    )
    # Checked even for an unknown user, against a dummy hash: both failures take equally long.
    matches = await verify_password(form.password, user.password_hash if user else None)
    if user is None or not matches:
        raise unauthorized("Incorrect username or password")
    token, expires_in = issue_access_token(settings, user.id)
    return Token(access_token=token, expires_in=expires_in)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, (503, "Live state is unavailable; the token still works.")),
)
async def logout(claims: AccessDep, services: ServicesDep) -> Response:
    """Revoke the access token this request carries: every process refuses it from now on.
    The caller's other tokens (other devices) keep working."""
    if claims.token_id is None:
        # Issued before tokens were named: it cannot be told apart, and expires on its own.
        raise unauthorized("this token cannot be revoked; log in again for one that can")
    remaining = int((claims.expires_at - datetime.now(UTC)).total_seconds()) + 1
    await services.live.revocations.revoke(claims.token_id, max(1, remaining))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
