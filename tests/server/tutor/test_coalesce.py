from server.tutor.coalesce import Coalescer


def test_first_piece_goes_at_once_then_by_time_or_size() -> None:
    now = [0.0]
    c = Coalescer(interval_s=0.04, max_chars=10, clock=lambda: now[0])
    assert c.due_in() is None
    assert c.add("Hel") is True  # the first piece is never held back
    assert c.take() == "Hel"
    assert c.add("lo") is False
    assert c.add(" wo") is False
    assert c.due_in() == 0.04
    now[0] = 0.03
    assert c.due_in() is not None and abs(c.due_in() - 0.01) < 1e-9  # type: ignore[operator]
    now[0] = 0.05
    assert c.add("r") is True  # due by time
    assert c.take() == "lo wor"
    assert c.add("x" * 12) is True  # due by size
    assert c.take() == "x" * 12
    assert c.take() == ""
    assert c.add("") is False


def frames_for(tokens: int, per_token_s: float) -> int:
    now = [0.0]
    c = Coalescer(interval_s=0.04, max_chars=256, clock=lambda: now[0])
    frames = 0
    for _ in range(tokens):  # four characters a token
        now[0] += per_token_s
        if c.add("abcd"):
            frames += 1
            c.take()
    return frames + bool(c.take())


def test_a_500_token_answer_is_tens_of_frames_not_hundreds() -> None:
    # A hosted model streaming 250 tokens/s: two seconds, one frame per 40 ms at most.
    assert 40 <= frames_for(500, 0.004) <= 52
    # However slow the model, never more than one frame a token nor one per 40 ms.
    assert frames_for(500, 0.01) <= 5.0 / 0.04 + 1
