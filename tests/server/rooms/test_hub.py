"""The hub over the memory live state: every member gets each logged event once, in order, even
when the subscription loses some; members that cannot keep up, or whose missed events the log
no longer holds, are closed with the code that tells their client what to do."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from protocol.errors import CloseCode
from protocol.events import (
    ChatEvent,
    SessionEndedEvent,
    UserRef,
    peek_seq,
    peek_type,
    typing_frame,
)
from server.config import Settings
from server.live.memory import memory_live_state
from server.live.ports import Listener, LiveState, LoggedEvent, Subscription
from server.metrics import Metrics
from server.rooms.hub import Hub
from server.rooms.member import Member

ADA = UserRef(id=1, name="ada")
BOB = UserRef(id=2, name="bob")


class LossyLog:
    """The memory room log, with a subscription that loses the seqs in ``lose`` (pub/sub is
    at-most-once); everything else is the memory log's."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self.lose: set[int] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)

    async def subscribe(self, session_id: int, listener: Listener) -> Subscription:
        def lossy(event: LoggedEvent) -> None:
            if event.seq not in self.lose:
                listener(event)

        subscription: Subscription = await self._log.subscribe(session_id, lossy)
        return subscription


class Writer:
    """A connection's writer as far as the room can tell: drains the member's queue."""

    def __init__(self, member: Member) -> None:
        self.member = member
        self.frames: list[str] = []
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while taken := await self.member.take(64):
            self.frames.extend(event.data for event in taken)

    @property
    def seqs(self) -> list[int]:
        return [peek_seq(frame) for frame in self.frames if frame.startswith('{"seq":')]

    async def wait_for(self, done: Callable[[], bool], timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.member.stop()
        await self._task


@dataclasses.dataclass
class Rig:
    hub: Hub
    live: LiveState
    log: LossyLog
    session: int

    async def member(self, user: UserRef = ADA, queue_max: int = 64) -> Member:
        member = Member(self.session, user, queue_max)
        await self.hub.attach(member)
        return member

    async def chat(self, text: str) -> LoggedEvent:
        event = ChatEvent(message_id=uuid.uuid4().hex, user=ADA, text=text, ts="t")
        return await self.hub.publish(self.session, event)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async def seed(session_id: int) -> int:
        return 0

    memory = memory_live_state(retention=5, presence_ttl_s=5.0, seed=seed)
    log = LossyLog(memory.log)
    live = dataclasses.replace(memory, log=log)
    settings = Settings(env="test", secret_key="test-secret-key-that-is-long-enough-for-hs256")
    hub = Hub(settings, live, Metrics())
    yield Rig(hub, live, log, 42)
    await hub.close()
    await memory.log.close()


async def test_every_member_gets_each_event_once_in_order(rig: Rig) -> None:
    writers = [Writer(await rig.member(user)) for user in (ADA, BOB)]
    for n in range(4):
        await rig.chat(f"m{n}")

    for writer in writers:
        await writer.wait_for(lambda w=writer: len(w.seqs) == 4)  # type: ignore[misc]
        assert writer.seqs == [1, 2, 3, 4]
        await writer.stop()


async def test_a_typing_signal_is_not_echoed_to_its_sender(rig: Rig) -> None:
    ada, bob = Writer(await rig.member(ADA)), Writer(await rig.member(BOB))
    await rig.hub.signal(rig.session, typing_frame(ADA))
    await rig.chat("after")

    await bob.wait_for(lambda: bob.seqs == [1])
    await ada.wait_for(lambda: ada.seqs == [1])
    assert [frame for frame in bob.frames if '"typing"' in frame] == [typing_frame(ADA)]
    assert not [frame for frame in ada.frames if '"typing"' in frame]
    await ada.stop()
    await bob.stop()


async def test_events_the_subscription_lost_are_read_back_before_newer_ones(rig: Rig) -> None:
    writer = Writer(await rig.member())
    rig.log.lose = {2, 3}
    for n in range(4):
        await rig.chat(f"m{n}")

    await writer.wait_for(lambda: len(writer.seqs) == 4)
    assert writer.seqs == [1, 2, 3, 4]
    await writer.stop()


async def test_members_are_restarted_when_the_log_no_longer_holds_what_was_lost(
    rig: Rig,
) -> None:
    member = await rig.member()
    writer = Writer(member)
    await rig.chat("m0")
    await writer.wait_for(lambda: writer.seqs == [1])
    # Retention is 5: by the time 9 reveals the hole, 2 and 3 are gone from the log.
    rig.log.lose = set(range(2, 9))
    for n in range(1, 9):
        await rig.chat(f"m{n}")

    await writer.wait_for(lambda: member.close_code is not None)
    assert member.close_code is CloseCode.SERVICE_RESTART
    assert writer.seqs == [1]
    assert rig.hub.local_sessions() == []


async def test_a_member_that_does_not_read_is_closed_as_slow_and_the_room_goes_on(
    rig: Rig,
) -> None:
    slow = await rig.member(BOB, queue_max=8)  # no writer: nothing is ever taken
    writer = Writer(await rig.member(ADA))
    for n in range(12):
        await rig.chat(f"m{n}")

    await writer.wait_for(lambda: len(writer.seqs) == 12)
    assert slow.close_code is CloseCode.SLOW_CONSUMER
    await writer.stop()


async def test_session_end_is_set_on_every_member_cursor(rig: Rig) -> None:
    members = [await rig.member(user) for user in (ADA, BOB)]
    await rig.chat("last words")
    ended = await rig.hub.publish(rig.session, SessionEndedEvent(ts="t"))

    assert peek_type(ended.data) == "session.ended"
    assert [member.cursor.end for member in members] == [ended.seq, ended.seq]


async def test_a_room_without_members_is_retired_and_reopened_afresh(rig: Rig) -> None:
    member = await rig.member()
    await rig.hub.detach(member)
    assert rig.hub.local_sessions() == []

    await rig.chat("while nobody is here")
    writer = Writer(await rig.member())
    await rig.chat("back")
    await writer.wait_for(lambda: writer.seqs == [2])
    await writer.stop()
