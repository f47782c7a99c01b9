"""What only the in-process engine has to do itself."""

import pytest

from server.live.memory import MemoryOutbox, MemoryRoomLog, MemoryTutorState

IDLE, BUSY, WATCHED = 1, 2, 3


async def seed(_: int) -> int:
    return 0


async def test_idle_logs_are_forgotten_like_redis_expires_them() -> None:
    now = [0.0]
    tutor = MemoryTutorState()
    await tutor.put_quiz(IDLE, "q1", "{}")
    await tutor.put_quiz(BUSY, "q1", "{}")
    log = MemoryRoomLog(
        retention=10,
        seed=seed,
        outbox=MemoryOutbox(),
        turns=tutor,
        idle_ttl_s=100,
        clock=lambda: now[0],
    )
    await log.append(IDLE, '{"type":"chat"}', persist=False)
    await log.append(BUSY, '{"type":"chat"}', persist=False)
    sub = await log.subscribe(WATCHED, lambda event: None)
    first = (await log.window(IDLE)).epoch
    now[0] = 60
    await log.append(BUSY, '{"type":"chat"}', persist=False)
    now[0] = 130
    await log.window(BUSY)
    # IDLE was untouched for 130 s: a new, empty log with a new epoch.
    fresh = await log.window(IDLE)
    assert fresh.epoch != first and fresh.head == 0
    # Touched 70 s ago, or listened to: kept.
    assert (await log.window(BUSY)).head == 2
    assert [e.seq for e in await log.read(BUSY, 0)] == [1, 2]
    # The tutor's state of a forgotten session goes with its log.
    assert await tutor.get_quiz(IDLE, "q1") is None
    assert await tutor.get_quiz(BUSY, "q1") == "{}"
    await sub.close()


@pytest.mark.parametrize("ttl", [1.0, 3600.0])
async def test_sweeping_never_drops_a_log_in_use(ttl: float) -> None:
    now = [0.0]
    log = MemoryRoomLog(
        retention=10,
        seed=seed,
        outbox=MemoryOutbox(),
        turns=MemoryTutorState(),
        idle_ttl_s=ttl,
        clock=lambda: now[0],
    )
    heard: list[int] = []
    sub = await log.subscribe(1, lambda event: heard.append(event.seq))
    for _ in range(5):
        now[0] += ttl * 2
        await log.append(1, '{"type":"chat"}', persist=False)
    assert heard == [1, 2, 3, 4, 5]
    await sub.close()
