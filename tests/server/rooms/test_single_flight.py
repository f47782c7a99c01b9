"""SingleFlight: identical concurrent calls are made once; every waiter gets the one result or
the one error; a cancelled waiter does not cancel the others; nothing is kept afterwards."""

from __future__ import annotations

import asyncio

import pytest

from server.rooms.single_flight import SingleFlight


class Calls:
    """A call the test lets finish: counts how often it started."""

    def __init__(self) -> None:
        self.started = 0
        self.cancelled = 0
        self.gate = asyncio.Event()
        self.error: Exception | None = None

    async def __call__(self) -> list[int]:
        self.started += 1
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return [self.started]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_two_waiters_get_one_call_and_the_same_result() -> None:
    flights: SingleFlight[str, list[int]] = SingleFlight()
    call = Calls()
    first = asyncio.create_task(flights.do("k", call))
    second = asyncio.create_task(flights.do("k", call))
    await settle()
    call.gate.set()
    a, b = await first, await second
    assert call.started == 1
    assert a is b and a == [1]


async def test_different_keys_are_different_calls() -> None:
    flights: SingleFlight[tuple[int, int], list[int]] = SingleFlight()
    call = Calls()
    call.gate.set()
    await asyncio.gather(flights.do((1, 5), call), flights.do((1, 6), call))
    assert call.started == 2


async def test_an_error_reaches_every_waiter() -> None:
    flights: SingleFlight[str, list[int]] = SingleFlight()
    call = Calls()
    call.error = RuntimeError("log unavailable")
    first = asyncio.create_task(flights.do("k", call))
    second = asyncio.create_task(flights.do("k", call))
    await settle()
    call.gate.set()
    for waiter in (first, second):
        with pytest.raises(RuntimeError, match="log unavailable"):
            await waiter
    assert call.started == 1 and flights.in_flight == 0


async def test_a_cancelled_waiter_does_not_cancel_the_others() -> None:
    flights: SingleFlight[str, list[int]] = SingleFlight()
    call = Calls()
    leader = asyncio.create_task(flights.do("k", call))
    follower = asyncio.create_task(flights.do("k", call))
    await settle()
    leader.cancel()  # the one whose call it is
    with pytest.raises(asyncio.CancelledError):
        await leader
    call.gate.set()
    assert await follower == [1]
    assert call.started == 1 and call.cancelled == 0


async def test_the_call_stops_when_its_last_waiter_is_cancelled() -> None:
    flights: SingleFlight[str, list[int]] = SingleFlight()
    call = Calls()
    only = asyncio.create_task(flights.do("k", call))
    await settle()
    only.cancel()
    with pytest.raises(asyncio.CancelledError):
        await only
    await settle()
    assert call.cancelled == 1 and flights.in_flight == 0

    # A caller right after does not inherit the cancel: it makes its own call.
    call.gate.set()
    assert await flights.do("k", call) == [2]


async def test_nothing_is_kept_after_the_call() -> None:
    flights: SingleFlight[str, list[int]] = SingleFlight()
    call = Calls()
    call.gate.set()
    assert await flights.do("k", call) == [1]
    assert flights.in_flight == 0
    assert await flights.do("k", call) == [2]
