"""The rules of study data as plain values: concept names, mastery, time present."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fsrs import Card

from server.progress.concepts import MASTERED, assess, concept_name, review
from server.progress.presence import PresenceMark, seconds_present

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_concept_names_ignore_case_and_spacing_but_keep_how_they_were_written() -> None:
    first = concept_name("  Light   Reactions ")
    assert first is not None and first.display == "Light Reactions"
    same = concept_name("light reactions")
    assert same is not None and same.key == first.key
    german = concept_name("Straße")
    assert german is not None and german.key == "strasse" and german.display == "Straße"
    tidied = concept_name("Cell\x00 wall\x07")
    assert tidied is not None and tidied.display == "Cell wall"
    for unusable in ("", "   ", "\x00", None, 3):
        assert concept_name(unusable) is None
    long = concept_name("x" * 500)
    assert long is not None and len(long.display) == 100


def test_mastery_moves_up_on_right_answers_and_down_on_wrong_ones() -> None:
    wrong = review(None, False, at(0))
    right = review(wrong.card, True, at(1))
    wrong_again = review(right.card, False, at(2))
    assert 0 < wrong.mastery < right.mastery
    assert wrong_again.mastery < right.mastery
    for step, when in ((wrong, at(0)), (right, at(1)), (wrong_again, at(2))):
        assert step.next_review_at > when
        assert Card.from_dict(json.loads(step.card)).last_review == when


def test_mastery_grows_with_correct_answers_spread_over_days() -> None:
    card, previous = None, 0.0
    when = T0
    for _ in range(5):
        step = review(card, True, when)
        assert step.mastery >= previous
        card, previous, when = step.card, step.mastery, step.next_review_at
    assert previous >= MASTERED


def test_reviews_are_deterministic_and_never_go_back_in_time() -> None:
    first = review(None, True, at(5))
    assert review(None, True, at(5)) == first
    # An answer stamped before the previous one (clock skew) is taken as given right after it.
    earlier = review(first.card, False, at(4))
    assert Card.from_dict(json.loads(earlier.card)).last_review == at(5)


def test_a_tutor_assessment_sets_a_new_concept_and_is_averaged_into_a_known_one() -> None:
    assert assess(None, 0.9) == 0.9
    assert assess(0.5, 0.9) == 0.7
    assert assess(None, 7.0) == 1.0 and assess(0.2, -1.0) == 0.0
    assert assess(None, float("nan")) == 0.0


def mark(
    session: int, seq: int, minute: float, event: str, ended: float | None = None
) -> PresenceMark:
    return PresenceMark(session, seq, at(minute), event, None if ended is None else at(ended))


def test_time_present_runs_from_each_join_to_the_leave_after_it() -> None:
    marks = [
        mark(1, 1, 0, "join"),
        mark(1, 5, 10, "leave"),
        mark(1, 9, 20, "join"),
        mark(1, 12, 25, "leave"),
        mark(2, 1, 30, "join"),
        mark(2, 3, 33, "leave"),
    ]
    assert seconds_present(marks, at(0), at(60)) == 18 * 60


def test_time_present_counts_only_after_since_and_up_to_now() -> None:
    marks = [mark(1, 1, 0, "join"), mark(1, 2, 10, "leave")]
    assert seconds_present(marks, at(4), at(60)) == 6 * 60
    assert seconds_present(marks, at(20), at(60)) == 0
    # Still present: up to now.
    assert seconds_present([mark(1, 1, 0, "join")], at(0), at(7)) == 7 * 60


def test_an_open_join_counts_up_to_the_end_of_its_session() -> None:
    marks = [mark(1, 1, 0, "join", ended=15), mark(2, 1, 20, "join", ended=None)]
    assert seconds_present(marks, at(0), at(30)) == (15 + 10) * 60


def test_lost_presence_events_do_not_invent_or_double_time() -> None:
    marks = [
        mark(1, 1, 0, "leave"),  # a leave without a join
        mark(1, 2, 5, "join"),
        mark(1, 3, 7, "join"),  # the leave before it was lost: still one stretch
        mark(1, 4, 10, "leave"),
        mark(1, 5, 11, "leave"),
    ]
    assert seconds_present(marks, at(0), at(60)) == 5 * 60
    assert seconds_present([], at(0), at(60)) == 0
