from server.rooms.ratelimit import TokenBucket


def test_bucket_allows_burst_then_refills_at_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5
    assert bucket.take() is True
    assert bucket.take() is False
    now[0] += 100
    assert sum(bucket.take() for _ in range(10)) == 3
