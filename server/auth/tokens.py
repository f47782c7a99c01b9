"""Signed tokens: access tokens for the REST API, participant tokens for one room socket.

Both are HS256 JWTs signed with ``settings.signing_key``. The ``typ`` claim keeps them apart:
a participant token (short-lived, handed to whatever opens the socket) never works as an
access token, and an access token never opens a room.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from server.config import Settings

ALGORITHM = "HS256"
ACCESS = "access"
PARTICIPANT = "participant"
_REQUIRED = ["exp", "iat", "sub", "typ"]


class InvalidToken(Exception):
    """The token is malformed, tampered with, expired, or of the wrong kind."""


@dataclass(frozen=True, slots=True)
class ParticipantClaims:
    user_id: int
    session_id: int
    name: str


def _encode(settings: Settings, claims: dict[str, Any], ttl_s: int) -> tuple[str, datetime]:
    # Whole seconds: what "exp" can hold, so the expiry we report is exactly the enforced one.
    now = datetime.now(UTC).replace(microsecond=0)
    expires_at = now + timedelta(seconds=ttl_s)
    payload = {**claims, "iat": now, "exp": expires_at}
    return jwt.encode(payload, settings.signing_key, algorithm=ALGORITHM), expires_at


def _decode(settings: Settings, token: str, typ: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.signing_key,
            # Pinned, so a token cannot pick its own algorithm ("none", or RS256 with our key).
            algorithms=[ALGORITHM],
            options={"require": _REQUIRED},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if claims.get("typ") != typ:
        raise InvalidToken(f"not a {typ} token")
    return claims


def _user_id(claims: dict[str, Any]) -> int:
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub.isdigit():
        raise InvalidToken("malformed subject")
    return int(sub)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    token_id: str | None
    """``jti``: names the token so that a logout can revoke it (tokens issued before this
    claim existed have none)."""
    expires_at: datetime


def issue_access_token(settings: Settings, user_id: int) -> tuple[str, int]:
    """A token for ``Authorization: Bearer``; returns it and its lifetime in seconds."""
    ttl = settings.access_token_ttl_s
    claims = {"sub": str(user_id), "typ": ACCESS, "jti": secrets.token_urlsafe(16)}
    token, _ = _encode(settings, claims, ttl)
    return token, ttl


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """The claims of a valid access token; raises :class:`InvalidToken` otherwise."""
    claims = _decode(settings, token, ACCESS)
    token_id = claims.get("jti")
    if token_id is not None and not isinstance(token_id, str):
        raise InvalidToken("malformed token id")
    expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    return AccessClaims(_user_id(claims), token_id, expires_at)


def issue_participant_token(
    settings: Settings, *, user_id: int, session_id: int, name: str
) -> tuple[str, datetime]:
    """A token admitting ``user_id`` to session ``session_id``; returns it and its expiry."""
    claims = {"sub": str(user_id), "typ": PARTICIPANT, "sid": session_id, "name": name}
    return _encode(settings, claims, settings.participant_token_ttl_s)


def decode_participant_token(settings: Settings, token: str) -> ParticipantClaims:
    """The claims of a valid participant token; raises :class:`InvalidToken` otherwise."""
    claims = _decode(settings, token, PARTICIPANT)
    session_id = claims.get("sid")
    name = claims.get("name")
    # bool is an int subclass; a session id of True is nonsense.
    if not isinstance(session_id, int) or isinstance(session_id, bool):
        raise InvalidToken("malformed session id")
    if not isinstance(name, str):
        raise InvalidToken("malformed name")
    return ParticipantClaims(_user_id(claims), session_id, name)
