"""Request and response bodies of the REST API.

``*Create``/``*Request`` models are what clients send; ``*Public`` models are what they get
back, built from the database rows. Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from protocol.errors import ErrorCode
from protocol.sessions import MemberRole, SessionStatus, TutorMode
from server.api.errors import rest_code_schema

# Ids are 64-bit in the database; a larger number cannot name anything and must not reach the
# driver (which would fail with an error instead of "not found").
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps both databases alike.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)

Username = Annotated[
    str, StringConstraints(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
]
# Not stripped: spaces at either end are part of what the user chose.
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NoNul
]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul
]
Description = Annotated[str, StringConstraints(max_length=5000), NoNul]


class ErrorDetail(BaseModel):
    """Every 4xx (and 503) answer: what went wrong, for people (a list of problems for invalid
    input) in ``detail``, and for programs in ``code``."""

    detail: str | list[dict[str, Any]] | dict[str, Any]
    code: str = Field(json_schema_extra=rest_code_schema())


class _Row(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Users and tokens.


class UserBase(BaseModel):
    username: Username


class UserCreate(UserBase):
    password: Password
    display_name: DisplayName | None = Field(
        default=None, description="Shown to other members; defaults to the username."
    )


class UserUpdate(BaseModel):
    """A new display name, or a new password with the current one."""

    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    password: Password | None = None
    current_password: str | None = Field(default=None, max_length=256)


class AccountDeletion(BaseModel):
    """The account's password, asked again: a stolen token alone cannot delete an account."""

    model_config = ConfigDict(extra="forbid")

    password: str = Field(max_length=256)


class UserPublic(_Row):
    id: int
    username: str
    display_name: str


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until the token expires.")


# Topics.


class TopicBase(BaseModel):
    title: Title


class TopicCreate(TopicBase):
    # null is accepted as "no description", like leaving it out.
    description: Description | None = ""


class TopicUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None


class TopicPublic(_Row):
    id: int
    title: str
    description: str
    owner_id: int
    created_at: datetime


# Sessions.


class SessionCreate(BaseModel):
    topic_id: Id
    title: Title | None = Field(default=None, description="Defaults to the topic's title.")


class SessionJoin(BaseModel):
    join_code: Annotated[str, NoNul] = Field(
        min_length=1, max_length=64, description="Case-insensitive; spaces are ignored."
    )


class SessionTopicUpdate(BaseModel):
    topic_id: Id


class SessionPublic(_Row):
    id: int
    title: str
    topic_id: int | None
    status: SessionStatus
    join_code: str
    owner_id: int
    created_at: datetime
    ended_at: datetime | None = None
    tutor_mode: TutorMode = TutorMode.SOCRATIC
    locked: bool = False


class SessionUpdate(BaseModel):
    """What a host may change; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    tutor_mode: TutorMode | None = None
    locked: StrictBool | None = None


class MemberPublic(BaseModel):
    id: int
    username: str
    display_name: str
    joined_at: datetime
    role: MemberRole = MemberRole.MEMBER


class MemberRoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: MemberRole


class JoinCode(BaseModel):
    join_code: str


class SessionDetail(SessionPublic):
    members: list[MemberPublic]
    topic: TopicPublic | None


class ReviewSchedule(BaseModel):
    due: int = Field(description="The caller's quiz cards on the session's topic due now.")
    next_review_at: datetime | None = Field(
        description="When the next of the caller's cards falls due after those; null if none."
    )


# Room access.


class ConnectionDetailsRequest(BaseModel):
    session_id: Id


class ConnectionDetails(BaseModel):
    server_url: str = Field(description="The room's WebSocket address, ws:// or wss://.")
    session_id: int
    participant_name: str
    participant_token: str = Field(description="Pass as ?token= when opening server_url.")
    expires_at: datetime = Field(description="When the token stops admitting new sockets.")


# A transcript entry is the exact room event frame members received; its shape depends on its
# ``type`` (see /asyncapi.json), so it is documented here only as an object.
TranscriptEntry = dict[str, Any]


# Operations.


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyStatus(BaseModel):
    status: Literal["ready"] = "ready"


class NotReady(BaseModel):
    detail: dict[str, str] = Field(description="Each dependency: 'ok' or why it failed.")
    code: Literal[ErrorCode.UNAVAILABLE] = ErrorCode.UNAVAILABLE


_ERROR_DESCRIPTIONS = {
    401: "Missing, invalid or expired access token.",
    403: "The caller may not do this.",
    404: "Not found, or not visible to the caller.",
    409: "Conflicts with the current state.",
    413: "The request body is too large.",
    415: "The body is of a type this path does not take.",
    422: "Invalid request.",
    503: "A dependency (database or live state) is unavailable; retry later.",
}


def error_responses(*codes: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for error answers; ``(code, description)`` to be specific."""
    out: dict[int | str, dict[str, Any]] = {}
    for item in codes:
        code, description = item if isinstance(item, tuple) else (item, _ERROR_DESCRIPTIONS[item])
        out[code] = {"model": ErrorDetail, "description": description}
    return out
