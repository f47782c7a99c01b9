"""The card a live review starts from: the freshest copy, wherever it is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.progress.concepts import latest_card, review

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_the_copy_reviewed_last_is_taken() -> None:
    once = review(None, True, T0).card
    twice = review(once, False, T0 + timedelta(minutes=5)).card
    assert latest_card(once, twice) == twice
    assert latest_card(twice, once) == twice
    assert latest_card(None, once) == once
    assert latest_card(once, None, "") == once
    assert latest_card(None, None) is None


def test_reviewing_the_latest_copy_matches_reviewing_in_order() -> None:
    # The projection reviews each answer in turn; the live event reviews the freshest copy.
    first = review(None, False, T0)
    second = review(first.card, True, T0 + timedelta(seconds=30))
    stale_projection = first.card
    live = review(latest_card(stale_projection, second.card), False, T0 + timedelta(minutes=1))
    in_order = review(second.card, False, T0 + timedelta(minutes=1))
    assert live == in_order
