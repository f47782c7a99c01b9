"""The join limiter: at most ``max_joins`` in progress, a short FIFO wait past them, then a
refusal whose retry hint grows with how far over the bound the process has been lately."""

from __future__ import annotations

import asyncio

import pytest

from protocol.errors import CloseCode, retry_after_ms
from server.metrics import Metrics
from server.rooms.joins import (
    RETRY_BASE_MS,
    RETRY_MAX_MS,
    Busy,
    JoinLimiter,
    JoinSlot,
    RetryPressure,
)

# Long enough that a waiter in these tests is only ever woken by a release.
FOREVER_S = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def refused(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("studyroom_ws_joins_refused_total")
    return value or 0.0


def in_progress(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("studyroom_ws_joins_in_progress")
    return value or 0.0


async def slot(limiter: JoinLimiter) -> JoinSlot:
    got = await limiter.acquire()
    assert isinstance(got, JoinSlot), got
    return got


async def test_joins_up_to_the_bound_get_a_slot_and_the_next_is_refused_with_a_hint() -> None:
    metrics = Metrics()
    limiter = JoinLimiter(2, 0, metrics)
    first, second = await slot(limiter), await slot(limiter)
    assert limiter.in_progress == 2 and in_progress(metrics) == 2

    busy = await limiter.acquire()
    assert isinstance(busy, Busy)
    assert retry_after_ms(CloseCode.TRY_AGAIN_LATER, busy.reason) == busy.retry_after_ms
    assert busy.reason.startswith("busy")
    assert refused(metrics) == 1

    first.release()
    first.release()  # a second release frees nothing more
    assert limiter.in_progress == 1
    third = await slot(limiter)
    second.release()
    third.release()
    assert limiter.in_progress == 0 and in_progress(metrics) == 0


async def test_a_waiting_join_gets_the_first_freed_slot_in_arrival_order() -> None:
    limiter = JoinLimiter(2, FOREVER_S, Metrics())
    held, other = await slot(limiter), await slot(limiter)
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert limiter.waiting == 2 and not first.done()

    held.release()
    got_first = await first
    assert isinstance(got_first, JoinSlot)
    assert limiter.in_progress == 2 and not second.done()
    got_first.release()
    got_second = await second
    assert isinstance(got_second, JoinSlot)
    got_second.release()
    other.release()
    assert limiter.in_progress == 0 and limiter.waiting == 0


async def test_a_join_that_waited_too_long_is_refused_and_takes_nothing() -> None:
    metrics = Metrics()
    limiter = JoinLimiter(1, 0.01, metrics)
    held = await slot(limiter)
    assert isinstance(await limiter.acquire(), Busy)
    assert limiter.waiting == 0 and refused(metrics) == 1
    held.release()
    assert limiter.in_progress == 0


async def test_no_more_joins_wait_than_there_are_slots() -> None:
    limiter = JoinLimiter(1, FOREVER_S, Metrics())
    held = await slot(limiter)
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert isinstance(await limiter.acquire(), Busy)  # the queue is full: refused at once
    held.release()
    got = await waiting
    assert isinstance(got, JoinSlot)
    got.release()


async def test_a_cancelled_waiter_gives_up_its_place_and_takes_no_slot() -> None:
    limiter = JoinLimiter(1, FOREVER_S, Metrics())
    held = await slot(limiter)
    cancelled = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert limiter.waiting == 0
    held.release()
    assert limiter.in_progress == 0


async def test_a_slot_handed_to_a_waiter_cancelled_meanwhile_goes_on_to_the_next() -> None:
    limiter = JoinLimiter(2, FOREVER_S, Metrics())
    held, other = await slot(limiter), await slot(limiter)
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    held.release()  # hands the slot to ``first``, which has not run yet
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    got = await second
    assert isinstance(got, JoinSlot)
    got.release()
    other.release()
    assert limiter.in_progress == 0


def test_the_hint_grows_with_recent_refusals_and_is_capped() -> None:
    clock = Clock()
    # rng 0.5: no jitter, the delay itself.
    pressure = RetryPressure(10, clock=clock, rng=lambda: 0.5)
    hints = [pressure.refused() for _ in range(40)]
    assert hints[0] >= RETRY_BASE_MS
    assert hints == sorted(hints) and hints[-1] > hints[0]
    assert all(hint <= RETRY_MAX_MS for hint in hints)
    for _ in range(10_000):
        assert pressure.refused() <= RETRY_MAX_MS
    assert pressure.refused() == RETRY_MAX_MS

    # A quiet while later the process is near its bound again.
    clock.now += 60
    assert pressure.refused() < 2 * RETRY_BASE_MS


def test_the_hint_is_jittered_around_the_delay() -> None:
    low = RetryPressure(10, clock=Clock(), rng=lambda: 0.0).refused()
    high = RetryPressure(10, clock=Clock(), rng=lambda: 0.999).refused()
    mid = RetryPressure(10, clock=Clock(), rng=lambda: 0.5).refused()
    assert low < mid < high
    assert low >= mid // 2 and high <= mid * 3 // 2 + 1
