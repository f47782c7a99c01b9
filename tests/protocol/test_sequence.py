from dataclasses import dataclass

import pytest

from protocol.sequence import (
    LogWindow,
    Rejoined,
    ResumePlan,
    complete_replay,
    is_new,
    plan_rejoin,
    plan_resume,
)

WINDOW = LogWindow(epoch="e1", first_seq=11, head=20)


@pytest.mark.parametrize(
    ("last_seq", "epoch", "plan"),
    [
        (None, None, ResumePlan(resumed=False, replay_after=None)),
        (20, None, ResumePlan(resumed=True, replay_after=20)),
        (15, None, ResumePlan(resumed=True, replay_after=15)),
        (10, None, ResumePlan(resumed=True, replay_after=10)),
        (9, None, ResumePlan(resumed=False, replay_after=None)),
        (21, None, ResumePlan(resumed=False, replay_after=None)),
        (15, "e1", ResumePlan(resumed=True, replay_after=15)),
        (15, "e0", ResumePlan(resumed=False, replay_after=None)),
    ],
)
def test_plan_resume(last_seq: int | None, epoch: str | None, plan: ResumePlan) -> None:
    assert plan_resume(last_seq, WINDOW, epoch) == plan


def test_resume_on_empty_log_at_its_head() -> None:
    empty = LogWindow(epoch="e", first_seq=1, head=0)
    assert plan_resume(0, empty) == ResumePlan(resumed=True, replay_after=0)
    assert plan_resume(1, empty).resumed is False


@dataclass(frozen=True)
class Ev:
    seq: int


def evs(*seqs: int) -> list[Ev]:
    return [Ev(seq) for seq in seqs]


@pytest.mark.parametrize(
    ("plan", "read", "resumed", "replayed"),
    [
        # A fresh join reads nothing and replays nothing.
        (ResumePlan(False, None), [], False, []),
        # Everything after last_seq, up to the head.
        (ResumePlan(True, 15), evs(16, 17, 18, 19, 20), True, [16, 17, 18, 19, 20]),
        # Events past the window's head are left to the live stream.
        (ResumePlan(True, 18), evs(19, 20, 21, 22), True, [19, 20]),
        # At the head already: nothing to replay, still a resume.
        (ResumePlan(True, 20), [], True, []),
        # Trimmed between the window and the read: too old to resume.
        (ResumePlan(True, 15), evs(17, 18, 19, 20), False, []),
        # The log lost its tail (or restarted) between the window and the read.
        (ResumePlan(True, 15), evs(16, 17), False, []),
        (ResumePlan(True, 15), [], False, []),
    ],
)
def test_complete_replay(
    plan: ResumePlan, read: list[Ev], resumed: bool, replayed: list[int]
) -> None:
    replay = complete_replay(plan, WINDOW, read)
    assert (replay.resumed, [event.seq for event in replay.events]) == (resumed, replayed)


@pytest.mark.parametrize(
    ("last_seq", "head", "resumed", "rejoined"),
    [
        # Fresh join: start at the welcome's head.
        (None, 20, False, Rejoined(reload_after=None, last_seq=20)),
        # Replayed resume: the replay follows the welcome, go on from last_seq.
        (15, 20, True, Rejoined(reload_after=None, last_seq=15)),
        # Not replayable: reload the transcript after last_seq, then go on from the head.
        (15, 20, False, Rejoined(reload_after=15, last_seq=20)),
        # A log that restarted lower than what was seen: numbers start over at its head.
        (40, 3, False, Rejoined(reload_after=40, last_seq=3)),
    ],
)
def test_plan_rejoin(last_seq: int | None, head: int, resumed: bool, rejoined: Rejoined) -> None:
    assert plan_rejoin(last_seq, head, resumed) == rejoined


@pytest.mark.parametrize(
    ("last_seq", "seq", "new"),
    [(None, 1, True), (None, 0, True), (5, 6, True), (5, 9, True), (5, 5, False), (5, 2, False)],
)
def test_is_new(last_seq: int | None, seq: int, new: bool) -> None:
    assert is_new(last_seq, seq) is new
