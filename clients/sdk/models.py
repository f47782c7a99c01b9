"""Typed answers of the REST API.

Every model accepts fields it does not know (``extra="allow"``) so an older SDK keeps working
against a newer server that adds fields.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Metric = Literal["study_minutes", "questions_asked", "quiz_accuracy", "concepts_mastered"]


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class User(Answer):
    id: int
    username: str
    display_name: str


class Topic(Answer):
    id: int
    title: str
    description: str | None = None
    owner_id: int
    created_at: datetime | None = None


class Session(Answer):
    id: int
    title: str
    topic_id: int | None
    status: str  # a SessionStatus; a newer server may add others
    join_code: str
    owner_id: int
    created_at: datetime | None = None
    ended_at: datetime | None = None
    tutor_mode: str = "socratic"  # a TutorMode: socratic, explain or off
    locked: bool = False


class Member(Answer):
    """A member of a session, as ``GET /api/sessions/{id}`` lists them."""

    id: int
    username: str
    display_name: str
    role: str = "member"  # a MemberRole: host or member
    joined_at: datetime | None = None


class ConnectionDetails(Answer):
    server_url: str
    session_id: int
    participant_name: str
    participant_token: str
    expires_at: str


class Material(Answer):
    id: int
    topic_id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    pages: int | None = None
    chunks: int
    created_at: datetime


class SearchHit(Answer):
    material_id: int
    chunk_id: int
    text: str
    score: float
    page: int | None = None


class Goal(Answer):
    id: int
    topic_id: int
    title: str
    metric: Metric
    target: float
    due_date: date | None = None
    progress: float
    value: float | None = None
    since: datetime | None = None  # progress counts activity from here on


class ConceptProgress(Answer):
    concept: str
    mastery: float
    reviews: int
    next_review_at: datetime | None = None
    topic_id: int | None = None


class ReviewSchedule(Answer):
    """The caller's quiz cards on a session's topic: due now, and when the next one is."""

    due: int
    next_review_at: datetime | None = None


class SessionReport(Answer):
    duration_s: float
    participants: int
    messages: int
    questions: int
    tutor_turns: int
    tokens_in: int
    tokens_out: int
    ttft_ms_p50: float | None = None
    quiz_answers: int
    quiz_accuracy: float | None = None


class HistoryBucket(Answer):
    bucket_start: datetime
    study_minutes: float
    questions: int
    quiz_answers: int
    quiz_accuracy: float | None = None
    tokens: int
