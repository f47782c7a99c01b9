"""What a concept's record becomes after a quiz answer or a tutor's assessment.

Pure functions over plain values, so the rules can be read and tested without a database.

Mastery is one number from 0 to 1:

* a quiz answer is a spaced-repetition review (FSRS; correct = ``Good``, wrong = ``Again``),
  and mastery becomes the card's predicted recall :data:`MASTERY_HORIZON` after that review,
  that is the chance of still knowing the concept a month later without studying it again.
  (Recall right after a review is always about 1, so it cannot tell answers apart.)
* a tutor's assessment is averaged with the current mastery, or taken as it is for a concept
  seen for the first time; it does not touch the card or the review count.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from fsrs import Card, Rating, Scheduler

# Concept names are at most this long (the tutor's tools enforce the same limit).
CONCEPT_MAX_CHARS = 100
# A concept counts as mastered from this mastery on.
MASTERED = 0.8
MASTERY_HORIZON = timedelta(days=30)

# No fuzzing: the same reviews must always give the same schedule, so a projection that is
# replayed or rebuilt ends where the first one did.
_scheduler = Scheduler(enable_fuzzing=False)


@dataclass(frozen=True)
class ConceptName:
    display: str  # as written, with its spaces tidied
    key: str  # what identifies the concept: case and spacing do not matter


def concept_name(raw: object) -> ConceptName | None:
    """The concept a name refers to, or None when it is not a usable name."""
    if not isinstance(raw, str):
        return None
    # Control characters (NUL above all, which PostgreSQL cannot store) are dropped: one
    # unstorable name must not stop the projection of everything after it.
    printable = "".join(ch for ch in raw if ch.isprintable() or ch.isspace())
    display = " ".join(printable.split())[:CONCEPT_MAX_CHARS]
    if not display:
        return None
    return ConceptName(display, display.casefold())


@dataclass(frozen=True)
class Reviewed:
    card: str  # the FSRS card, as JSON
    mastery: float
    next_review_at: datetime


def review(card_json: str | None, correct: bool, at: datetime) -> Reviewed:
    """Apply one quiz answer given at ``at`` (aware UTC) to a card (None: a new one)."""
    # card_id is unused here; a fixed one spares the library's clock-based default.
    card = Card.from_dict(json.loads(card_json)) if card_json else Card(card_id=0)
    if card.last_review is not None and at < card.last_review:
        # Answers arrive in log order; clocks of different processes may disagree slightly.
        at = card.last_review
    card, _ = _scheduler.review_card(card, Rating.Good if correct else Rating.Again, at)
    recall = _scheduler.get_card_retrievability(card, at + MASTERY_HORIZON)
    return Reviewed(json.dumps(card.to_dict()), _unit(recall), card.due)


def latest_card(*cards: str | None) -> str | None:
    """Of copies of one concept's card (JSON, None for none), the one reviewed last.

    The live ``progress`` event reviews the card it finds freshest, in the projection or as the
    session last reviewed it, so its mastery is what the projection arrives at.
    """
    best: str | None = None
    best_at: datetime | None = None
    for raw in cards:
        if not raw:
            continue
        at = Card.from_dict(json.loads(raw)).last_review
        if best is None or (at is not None and (best_at is None or at > best_at)):
            best, best_at = raw, at
    return best


def assess(current: float | None, assessed: float) -> float:
    """Mastery after a tutor's assessment ``assessed`` of a concept now at ``current``."""
    if current is None:
        return _unit(assessed)
    return _unit((current + assessed) / 2)


def _unit(value: float) -> float:
    if not math.isfinite(value):
        return 0.0
    return round(min(1.0, max(0.0, value)), 4)
