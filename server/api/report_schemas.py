"""Bodies and query values of the report endpoints: a session's report and a study history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, PlainValidator, WithJsonSchema

from server.reports.window import EARLIEST, LATEST, to_utc


class SessionReport(BaseModel):
    """What happened in one session, counted from its transcript."""

    duration_s: float = Field(
        ge=0,
        description="Seconds from the session's start to its end, or to now while it is active.",
    )
    participants: int = Field(
        ge=0, description="Distinct users who joined the room or wrote a message or question."
    )
    messages: int = Field(ge=0, description="Chat messages.")
    questions: int = Field(ge=0, description="Questions asked of the tutor.")
    tutor_turns: int = Field(ge=0, description="Tutor turns that ended, answered or failed.")
    tokens_in: int = Field(ge=0, description="Model input tokens of the answered turns.")
    tokens_out: int = Field(ge=0, description="Model output tokens of the answered turns.")
    ttft_ms_p50: float | None = Field(
        description="Median time to the first token of an answer, in ms; null without answers."
    )
    quiz_answers: int = Field(ge=0, description="Quiz answers given.")
    quiz_accuracy: float | None = Field(
        ge=0,
        le=1,
        description="Share of quiz answers that were correct; null when there were none.",
    )


class HistoryBucket(BaseModel):
    """One day or week of the caller's studying. A bucket without activity has zero counts."""

    bucket_start: datetime = Field(description="Start of the bucket: 00:00 UTC (weeks: Monday).")
    study_minutes: float = Field(
        ge=0, description="Minutes the caller spent in session rooms within the bucket, to 0.001."
    )
    questions: int = Field(ge=0, description="Questions the caller asked.")
    quiz_answers: int = Field(ge=0, description="Quiz answers the caller gave.")
    quiz_accuracy: float | None = Field(
        ge=0,
        le=1,
        description="Share of the caller's quiz answers that were correct; null when none.",
    )
    tokens: int = Field(
        ge=0,
        description="Model tokens (in + out) of the tutor's answers to the caller's questions.",
    )


def _instant(value: object) -> datetime:
    # Strict ISO 8601 on purpose: pydantic's own datetime parsing also takes Unix timestamps.
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not an ISO 8601 date or date-time") from None
    else:
        raise ValueError("not an ISO 8601 date or date-time")
    try:
        instant = to_utc(parsed)
    except OverflowError:
        raise ValueError("out of range") from None
    if not EARLIEST <= instant < LATEST:
        raise ValueError(f"must lie from {EARLIEST.year} up to {LATEST.year}")
    return instant


IsoInstant = Annotated[
    datetime,
    PlainValidator(_instant),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
            ]
        }
    ),
]
