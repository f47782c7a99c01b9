"""A room feed's decisions as tables: what happens to each seq offered, and after a fill."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from protocol.feed import Action, MemberCursor, RoomFeed, Then

D, X, H, F = Action.DELIVER, Action.DROP, Action.HOLD, Action.FILL


@dataclass(frozen=True)
class Ev:
    seq: int


def evs(*seqs: int) -> list[Ev]:
    return [Ev(seq) for seq in seqs]


def live(head: int) -> RoomFeed[Ev]:
    feed: RoomFeed[Ev] = RoomFeed()
    release = feed.start(head)
    assert (release.deliver, release.then) == ([], Then.LIVE)
    return feed


@pytest.mark.parametrize(
    ("offers", "actions", "last"),
    [
        ([6, 7, 8], [D, D, D], 8),
        # repeated
        ([6, 6, 7, 7], [D, X, D, X], 7),
        # older than the head the room opened at
        ([3, 5, 6], [X, X, D], 6),
        # missing: the first hole asks for a fill once; later arrivals wait for it
        ([6, 8, 9, 7], [D, F, H, H], 6),
        # out of order
        ([7, 6], [F, H], 5),
    ],
)
def test_offers_while_live(offers: list[int], actions: list[Action], last: int) -> None:
    feed = live(5)
    assert [feed.offer(Ev(seq)) for seq in offers] == actions
    assert feed.last == last


@pytest.mark.parametrize(
    ("held", "missing", "delivered", "then", "last"),
    [
        # The fill has the hole: the hole, then what was held.
        ([8, 9], evs(7), [7, 8, 9], Then.LIVE, 9),
        # The fill returns everything after fill_after, held events included: each once.
        ([8, 9], evs(7, 8, 9), [7, 8, 9], Then.LIVE, 9),
        # Events that arrived while the fill was in flight and are newer than its result.
        ([8, 10, 11], evs(7, 8, 9), [7, 8, 9, 10, 11], Then.LIVE, 11),
        # A partial range: what it has is delivered, then the room restarts.
        ([10], evs(7, 8), [7, 8], Then.RESTART, 8),
        # Nothing (trimmed, the log restarted, or it could not be read).
        ([8, 9], [], [], Then.RESTART, 6),
        # Trimmed: the log's first event is past the hole.
        ([9], evs(8, 9), [], Then.RESTART, 6),
    ],
)
def test_fill(
    held: list[int], missing: list[Ev], delivered: list[int], then: Then, last: int
) -> None:
    feed = live(6)
    actions = [feed.offer(Ev(seq)) for seq in held]
    assert actions == [F] + [H] * (len(held) - 1)
    assert feed.fill_after == 6

    release = feed.filled(missing)

    assert ([event.seq for event in release.deliver], release.then) == (delivered, then)
    assert feed.last == last
    assert feed.restarted is (then is Then.RESTART)


def test_after_a_fill_the_feed_is_live_again() -> None:
    feed = live(1)
    assert feed.offer(Ev(3)) is F
    feed.filled(evs(2))
    assert [feed.offer(Ev(seq)) for seq in (4, 4, 6)] == [D, X, F]


def test_a_restarted_feed_drops_everything() -> None:
    feed = live(1)
    feed.offer(Ev(5))
    assert feed.filled([]).then is Then.RESTART
    assert [feed.offer(Ev(seq)) for seq in (2, 6)] == [X, X]


def test_events_before_start_are_held_and_released_at_the_head() -> None:
    feed: RoomFeed[Ev] = RoomFeed()
    assert [feed.offer(Ev(seq)) for seq in (9, 10, 11)] == [H, H, H]

    release = feed.start(9)

    assert ([event.seq for event in release.deliver], release.then) == ([10, 11], Then.LIVE)
    assert feed.offer(Ev(12)) is D


def test_a_hole_before_start_asks_for_a_fill() -> None:
    feed: RoomFeed[Ev] = RoomFeed()
    for seq in (11, 13):
        feed.offer(Ev(seq))

    release = feed.start(10)

    assert ([event.seq for event in release.deliver], release.then) == ([11], Then.FILL)
    assert feed.fill_after == 11
    assert [event.seq for event in feed.filled(evs(12)).deliver] == [12, 13]


def test_a_fill_nobody_asked_for_is_refused() -> None:
    with pytest.raises(ValueError):
        live(1).filled(evs(2))
    with pytest.raises(ValueError):
        live(1).start(3)


def test_restart_stops_a_fill_in_flight() -> None:
    feed = live(1)
    feed.offer(Ev(3))
    feed.restart()
    assert feed.restarted
    with pytest.raises(ValueError):
        feed.filled(evs(2))


# -- a member's cursor ---------------------------------------------------------------------


def test_cursor_tracks_what_was_written() -> None:
    cursor = MemberCursor(last=4)
    assert cursor.advance(5) is False
    assert cursor.last == 5
    assert not cursor.ended


@pytest.mark.parametrize(
    ("end", "written", "ends_at"),
    [
        (7, [5, 6, 7, 8], 7),
        # the member joined past the end (a replay): the first write ends it
        (3, [5], 5),
        (9, [5, 6], None),
    ],
)
def test_cursor_session_end(end: int, written: list[int], ends_at: int | None) -> None:
    cursor = MemberCursor(last=4)
    cursor.end_after(end)
    ended = [seq for seq in written if cursor.advance(seq)]
    assert (ended[0] if ended else None) == ends_at
    assert cursor.ended is (ends_at is not None)
