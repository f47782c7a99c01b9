import pytest

from protocol.sequence import LogWindow, Offer, ResumePlan, SeqGate, plan_resume

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


def test_gate_delivers_in_order_and_flags_gaps_and_duplicates() -> None:
    gate = SeqGate(last=5)
    assert gate.offer(6) is Offer.DELIVER
    assert gate.offer(6) is Offer.DUPLICATE
    assert gate.offer(3) is Offer.DUPLICATE
    assert gate.offer(8) is Offer.GAP
    assert gate.last == 6
    gate.advance(7)
    assert gate.offer(8) is Offer.DELIVER


def test_gate_advance_refuses_skips() -> None:
    gate = SeqGate(last=1)
    with pytest.raises(ValueError):
        gate.advance(3)
