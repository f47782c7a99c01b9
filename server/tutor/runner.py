"""Answering each session's queued asks, one at a time, on whichever process holds its lease.

Only the process holding a session's lease runs its turns; it renews the lease while it works.
If it dies, another process with members in the room takes the lease once it expires, finds
the ask that was started and never finished, and ends it with ``agent.error`` code
``interrupted`` before answering the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from protocol.errors import AgentErrorCode
from protocol.events import AgentErrorEvent, UserRef, now_iso
from protocol.frames import FrameError
from server.config import Settings
from server.live.ports import LiveStateUnavailable, LoggedEvent, RoomLog, TutorState
from server.metrics import Metrics
from server.progress.cards import QuizCards
from server.rooms.hub import Hub
from server.tutor.admission import AskPolicy, Reservation
from server.tutor.budget import prompt_estimate
from server.tutor.context import PromptContext
from server.tutor.knowledge import MaterialSearch
from server.tutor.provider import Provider
from server.tutor.tools import TurnTools
from server.tutor.turn import Ask, Turn, TurnSettings

log = logging.getLogger(__name__)


class TurnRunner:
    def __init__(
        self,
        settings: Settings,
        *,
        log: RoomLog,
        state: TutorState,
        hub: Hub,
        provider: Provider,
        search: MaterialSearch,
        context: PromptContext,
        fallback: Provider | None = None,
        cards: QuizCards | None = None,
        policy: AskPolicy,
        metrics: Metrics,
        owner: str,
    ) -> None:
        self._settings = settings
        self._log = log
        self._state = state
        self._hub = hub
        self._provider = provider
        self._fallback = fallback
        self._cards = cards
        self._search = search
        self._context = context
        self._policy = policy
        self._metrics = metrics
        self._owner = owner
        # Only sessions being drained and turns running here: entries leave when they end.
        self._drains: dict[int, asyncio.Task[None]] = {}
        self._running: dict[str, Ask] = {}
        self._cancels: dict[str, asyncio.Event] = {}
        self._watch: asyncio.Task[None] | None = None

    def kick(self, session_id: int) -> None:
        """Make sure this process tries to answer the session's queued asks."""
        task = self._drains.get(session_id)
        if task is None or task.done():
            task = asyncio.create_task(self._drain(session_id))
            self._drains[session_id] = task
            task.add_done_callback(lambda done: self._forget_drain(session_id, done))

    def _forget_drain(self, session_id: int, task: asyncio.Task[None]) -> None:
        if self._drains.get(session_id) is task:
            del self._drains[session_id]

    async def cancel(self, session_id: int, turn_id: str) -> None:
        """Stop a turn, here or on whichever process runs it (or will run it)."""
        local = self._cancels.get(turn_id)
        if local is not None:
            local.set()
            return
        await self._state.request_cancel(session_id, turn_id)

    async def _drain(self, session_id: int) -> None:
        lease_s = self._settings.tutor_lease_s
        try:
            # An ask queued just as the previous holder found the queue empty and let go would
            # wait for the room watch; looking again after letting go closes that gap.
            while await self._state.acquire(session_id, self._owner, lease_s):
                try:
                    await self._answer_queue(session_id)
                finally:
                    with contextlib.suppress(LiveStateUnavailable):
                        await self._state.release(session_id, self._owner)
                if await self._state.head(session_id) is None:
                    return
        except LiveStateUnavailable:
            log.warning("tutor of session %s paused: live state unavailable", session_id)
        except Exception:
            log.exception("tutor of session %s failed", session_id)

    async def _answer_queue(self, session_id: int) -> None:
        while (head := await self._state.head(session_id)) is not None:
            ask = _parse_ask(session_id, head)
            if await self._state.started(session_id) == head.seq:
                await self._interrupted(ask)
            else:
                await self._state.mark_started(session_id, head.seq)
                if not await self._run_leased(ask):
                    return  # the lease was lost: whoever holds it now carries on
            await self._state.remove(session_id, head.seq)

    async def _run_leased(self, ask: Ask) -> bool:
        """Run the turn while renewing the lease; False if the lease was lost meanwhile."""
        cancel = asyncio.Event()
        self._cancels[ask.turn_id] = cancel
        turn_task = asyncio.create_task(self._run_turn(ask, cancel))
        try:
            while True:
                done, _ = await asyncio.wait({turn_task}, timeout=self._settings.tutor_lease_s / 3)
                if done:
                    turn_task.result()
                    return True
                if not await self._state.renew(
                    ask.session_id, self._owner, self._settings.tutor_lease_s
                ):
                    log.warning("lost the tutor lease of session %s mid-turn", ask.session_id)
                    turn_task.cancel()
                    return False
        finally:
            if not turn_task.done():
                turn_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await turn_task
            self._cancels.pop(ask.turn_id, None)

    async def _run_turn(self, ask: Ask, cancel: asyncio.Event) -> None:
        topic = await self._context.topic(ask.session_id)
        tools = TurnTools(
            session_id=ask.session_id,
            turn_id=ask.turn_id,
            asker=ask.user,
            topic_id=topic["id"] if topic is not None else None,
            hub=self._hub,
            state=self._state,
            search=self._search,
            cards=self._cards,
        )
        mode = await self._context.mode(ask.session_id)
        prompt = await self._context.prompt(
            ask, topic, tools=self._provider.supports_tools, mode=mode
        )
        reservation = await self._reserve(
            ask, prompt_estimate(prompt, self._provider.context_tokens)
        )
        if isinstance(reservation, FrameError):
            await self._hub.publish(
                ask.session_id,
                AgentErrorEvent(
                    turn_id=ask.turn_id,
                    code=AgentErrorCode.RATE_LIMITED,
                    message=reservation.message,
                    ts=now_iso(),
                ),
            )
            self._metrics.tutor_turns.labels("error").inc()
            return
        turn = Turn(
            ask,
            hub=self._hub,
            provider=self._provider,
            fallback=self._fallback,
            tools=tools,
            prompt=prompt,
            settings=TurnSettings(
                max_tokens=self._settings.tutor_max_tokens,
                coalesce_s=self._settings.tutor_coalesce_ms / 1000,
                coalesce_chars=self._settings.tutor_coalesce_chars,
            ),
            cancel_requested=cancel,
            remote_cancel=lambda: self._state.cancel_requested(ask.session_id, ask.turn_id),
        )
        self._running[ask.turn_id] = ask
        try:
            state = await turn.run()
        finally:
            self._running.pop(ask.turn_id, None)
        self._metrics.tutor_turns.labels(state.value).inc()
        if turn.ttft_ms is not None:
            self._metrics.tutor_ttft.observe(turn.ttft_ms / 1000)
        spent = turn.tokens_in + turn.tokens_out
        try:
            if reservation is None:
                await self._policy.charge(ask.session_id, ask.user.id, spent)
            else:
                await self._policy.settle(reservation, spent)
        except LiveStateUnavailable:
            # The answer stands; leaving the queue stuck over an uncounted turn would be worse.
            log.warning("tokens of turn %s not counted: live state unavailable", ask.turn_id)

    async def _reserve(self, ask: Ask, prompt_tokens: int) -> Reservation | FrameError | None:
        """The turn's reservation, its refusal, or None if the counters cannot be reached: the
        turn is then answered and charged afterwards, as a stalled queue would be worse."""
        try:
            return await self._policy.reserve(
                ask.session_id, ask.user.id, prompt_tokens, self._settings.tutor_max_tokens
            )
        except LiveStateUnavailable:
            log.warning("turn %s not reserved: live state unavailable", ask.turn_id)
            return None

    async def _interrupted(self, ask: Ask) -> None:
        """End a turn whose process died, unless it had finished before dying."""
        after = await self._log.read(ask.session_id, ask.seq)
        for event in after:
            body = json.loads(event.data)
            if body.get("turn_id") == ask.turn_id and body.get("type") in (
                "agent.done",
                "agent.error",
            ):
                return
        await self._hub.publish(
            ask.session_id,
            AgentErrorEvent(
                turn_id=ask.turn_id,
                code=AgentErrorCode.INTERRUPTED,
                message="the server answering this question stopped; ask again",
                ts=now_iso(),
            ),
        )
        self._metrics.tutor_turns.labels("interrupted").inc()

    def start(self) -> None:
        self._watch = asyncio.create_task(self._watch_rooms())

    async def _watch_rooms(self) -> None:
        """Pick up asks whose process died: any process with members in the room may."""
        while True:
            await asyncio.sleep(self._settings.tutor_lease_s / 2)
            for session_id in self._hub.local_sessions():
                try:
                    if await self._state.head(session_id) is not None:
                        self.kick(session_id)
                except LiveStateUnavailable:
                    break

    async def close(self) -> None:
        """Stop; turns cut short end with ``interrupted`` so nobody waits for them."""
        cut_short = list(self._running.values())
        tasks: list[asyncio.Task[None]] = list(self._drains.values())
        if self._watch is not None:
            tasks.append(self._watch)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ask in cut_short:
            with contextlib.suppress(LiveStateUnavailable):
                await self._interrupted(ask)
                await self._state.remove(ask.session_id, ask.seq)


def _parse_ask(session_id: int, event: LoggedEvent) -> Ask:
    body = json.loads(event.data)
    user = UserRef.model_validate(body["user"])
    return Ask(session_id, event.seq, str(body["turn_id"]), user, str(body["text"]))
