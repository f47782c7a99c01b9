"""Request and response bodies of the study-data routes: goals and concept progress."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from server.api.schemas import Id

# Like a topic's title, without NUL characters, which PostgreSQL cannot store in text.
GoalTitle = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00]*$"),
]
Metric = Literal["study_minutes", "questions_asked", "quiz_accuracy", "concepts_mastered"]
# Accuracy is a fraction; every other metric is a count or an amount of time.
ACCURACY_METRIC = "quiz_accuracy"
ACCURACY_TARGET_ERROR = "a quiz_accuracy target is a fraction: more than 0, at most 1"
TARGET_HELP = "More than 0; for quiz_accuracy at most 1."
SINCE_HELP = (
    "Count activity from this moment on (ISO 8601; without a zone, UTC). Defaults to when the "
    "goal is set; may be earlier (e.g. the start of the week), not later than now."
)
SINCE_FUTURE_ERROR = "since cannot be in the future"


def _past_or_now(since: datetime | None) -> datetime | None:
    """``since`` in UTC, refused when it lies ahead (a goal counting nothing yet)."""
    if since is None:
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    since = since.astimezone(UTC)
    # A minute's slack for clocks of clients that are a little ahead.
    if since > datetime.now(UTC) + timedelta(minutes=1):
        raise ValueError(SINCE_FUTURE_ERROR)
    return since


def _written(value: object) -> object:
    # Lax parsing would read a number as seconds since 1970; the document says a string.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("give a date as an ISO 8601 string, not a number")
    return value


WrittenDate = Annotated[date | None, BeforeValidator(_written)]
Since = Annotated[datetime | None, BeforeValidator(_written), AfterValidator(_past_or_now)]


class GoalCreate(BaseModel):
    topic_id: Id
    title: GoalTitle
    metric: Metric
    target: float = Field(gt=0, allow_inf_nan=False, description=TARGET_HELP)
    due_date: WrittenDate = None
    since: Since = Field(default=None, description=SINCE_HELP)

    @model_validator(mode="after")
    def _accuracy_is_a_fraction(self) -> Self:
        if self.metric == ACCURACY_METRIC and self.target > 1:
            raise ValueError(ACCURACY_TARGET_ERROR)
        return self


class GoalUpdate(BaseModel):
    """Fields to change; ``due_date: null`` removes the due date. Metric and topic are fixed."""

    model_config = ConfigDict(extra="forbid")

    title: GoalTitle | None = None
    target: float | None = Field(default=None, gt=0, allow_inf_nan=False, description=TARGET_HELP)
    due_date: WrittenDate = None
    since: Since = Field(default=None, description=SINCE_HELP)

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        for name in ("title", "target", "since"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class GoalPublic(BaseModel):
    id: int
    topic_id: int
    title: str
    metric: Metric
    target: float
    due_date: date | None
    progress: float = Field(ge=0, le=1, description="min(1, value / target).")
    value: float = Field(description="The metric as measured now.")
    created_at: datetime = Field(description="When the goal was set.")
    since: datetime = Field(description="Progress counts activity from this moment on.")


class ConceptPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    concept: str
    mastery: float = Field(ge=0, le=1)
    reviews: int = Field(description="Quiz answers on this concept.")
    next_review_at: datetime | None = Field(
        description="When a review is due (spaced repetition); null until first quizzed."
    )
    topic_id: int
