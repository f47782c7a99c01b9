"""Connection details: where a member's client opens the room socket, and the token for it."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Request

from protocol.sessions import SessionStatus
from server.api.deps import (
    SESSION_ENDED,
    CurrentUser,
    DbDep,
    SettingsDep,
    get_member_session,
    session_ended,
    touch_membership,
)
from server.api.schemas import ConnectionDetails, ConnectionDetailsRequest, error_responses
from server.auth.tokens import issue_participant_token
from server.config import Settings

router = APIRouter(prefix="/api", tags=["sessions"])

_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def room_url(settings: Settings, request: Request, session_id: int) -> str:
    """``ws(s)://host[/prefix]/ws/sessions/{id}`` from the public URL, else from the request."""
    base = urlsplit(settings.public_url or str(request.base_url))
    scheme = _WS_SCHEMES.get(base.scheme, "ws")
    path = f"{base.path.rstrip('/')}/ws/sessions/{session_id}"
    return urlunsplit((scheme, base.netloc, path, "", ""))


@router.post(
    "/connection-details",
    response_model=ConnectionDetails,
    responses=error_responses(401, 403, 404, (409, SESSION_ENDED)),
)
async def connection_details(
    body: ConnectionDetailsRequest,
    user: CurrentUser,
    db: DbDep,
    settings: SettingsDep,
    request: Request,
) -> ConnectionDetails:
    """A short-lived participant token for one session's room, and the socket's address."""
    session = await get_member_session(db, user, body.session_id)
    if session.status == SessionStatus.ENDED:
        raise session_ended()
    # Read before the commit below, which would otherwise leave them to be reloaded.
    session_id, user_id, name = session.id, user.id, user.display_name
    await touch_membership(db, session_id, user_id)
    await db.commit()
    token, expires_at = issue_participant_token(
        settings, user_id=user_id, session_id=session_id, name=name
    )
    return ConnectionDetails(
        server_url=room_url(settings, request, session_id),
        session_id=session_id,
        participant_name=name,
        participant_token=token,
        expires_at=expires_at,
    )
