"""The tutor of one process: takes asks, answers each session's asks one at a time, grades.

Asks join the session's queue atomically with their room event, so they are answered in
``seq`` order. Only the process holding a session's lease runs its turns; it renews the lease
while it works. If it dies, another process with members in the room takes the lease once it
expires, finds the ask that was started and never finished, and ends it with ``agent.error``
code ``interrupted`` before answering the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.errors import ErrorCode
from protocol.events import (
    AgentErrorEvent,
    AskEvent,
    ProgressEvent,
    QuizResultEvent,
    UserRef,
    now_iso,
)
from protocol.frames import AnswerFrame, AskFrame, FrameError
from server.config import Settings
from server.db.errors import is_database_unavailable
from server.db.models import Membership, StudySession, Topic, User
from server.db.progress_models import Goal
from server.live.ports import LiveState, LiveStateUnavailable, LoggedEvent
from server.metrics import Metrics
from server.rooms.hub import Hub
from server.rooms.ratelimit import TokenBucket
from server.topics import topic_payload
from server.tutor.knowledge import MaterialSearch
from server.tutor.prompt import history_messages, passages_message, system_message
from server.tutor.provider import Message, Provider
from server.tutor.tools import SEARCH_LIMIT, TurnTools
from server.tutor.turn import Ask, Turn, TurnSettings

log = logging.getLogger(__name__)

# Room events read back to find the recent conversation; deltas make up most of a log.
_HISTORY_WINDOW = 400
_GOALS_SHOWN = 20


class TutorService:
    def __init__(
        self,
        settings: Settings,
        live: LiveState,
        hub: Hub,
        db: async_sessionmaker[AsyncSession],
        provider: Provider,
        search: MaterialSearch,
        metrics: Metrics,
        owner: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._live = live
        self._state = live.tutor
        self._hub = hub
        self._db = db
        self.provider = provider
        self._search = search
        self._metrics = metrics
        self._owner = owner
        self._clock = clock
        self._drains: dict[str, asyncio.Task[None]] = {}
        self._running: dict[str, Ask] = {}
        self._cancels: dict[str, asyncio.Event] = {}
        self._watch: asyncio.Task[None] | None = None
        per_min = 60.0
        self._user_asks: defaultdict[int, TokenBucket] = defaultdict(
            lambda: TokenBucket(settings.tutor_asks_per_minute / per_min, 3, clock)
        )
        self._session_asks: defaultdict[str, TokenBucket] = defaultdict(
            lambda: TokenBucket(settings.tutor_session_asks_per_minute / per_min, 5, clock)
        )
        self._session_tokens: defaultdict[str, int] = defaultdict(int)
        self._user_tokens: defaultdict[tuple[int, int], int] = defaultdict(int)

    # -- frames from members ------------------------------------------------------------

    async def ask(self, session_id: str, user: UserRef, frame: AskFrame) -> FrameError | None:
        """Queue a question for the tutor; a refusal is returned, not raised."""
        refused = self._over_limits(session_id, user)
        if refused is not None:
            return refused
        event = AskEvent(
            turn_id="t" + secrets.token_hex(8),
            user=user,
            text=frame.text,
            client_msg_id=frame.client_msg_id,
            ts=now_iso(),
        )
        await self._hub.publish(session_id, event, queue_turn=True)
        self.kick(session_id)
        return None

    async def cancel(self, session_id: str, turn_id: str) -> None:
        """Stop a turn, here or on whichever process runs it (or will run it)."""
        local = self._cancels.get(turn_id)
        if local is not None:
            local.set()
            return
        await self._state.request_cancel(session_id, turn_id)

    async def answer(self, session_id: str, user: UserRef, frame: AnswerFrame) -> FrameError | None:
        raw = await self._state.get_quiz(session_id, frame.quiz_id)
        if raw is None:
            return FrameError(ErrorCode.NOT_FOUND, "no such quiz in this session")
        key = json.loads(raw)
        if frame.choice >= int(key["choices"]):
            return FrameError(ErrorCode.INVALID_FRAME, "choice is not one of the quiz's choices")
        tally_id = f"{frame.quiz_id}:answered:{user.id}"
        if await self._state.get_quiz(session_id, tally_id) is not None:
            return FrameError(ErrorCode.NOT_ALLOWED, "you already answered this quiz")
        await self._state.put_quiz(session_id, tally_id, str(frame.choice))
        correct = frame.choice == int(key["answer"])
        await self._hub.publish(
            session_id,
            QuizResultEvent(
                quiz_id=frame.quiz_id, user=user, choice=frame.choice, correct=correct, ts=now_iso()
            ),
        )
        mastery = await self._update_mastery(session_id, user, str(key["concept"]), correct)
        await self._hub.publish(
            session_id,
            ProgressEvent(
                user=user, concept=str(key["concept"]), mastery=mastery, source="quiz", ts=now_iso()
            ),
        )
        return None

    async def _update_mastery(
        self, session_id: str, user: UserRef, concept: str, correct: bool
    ) -> float:
        # A running estimate within the session: recent answers weigh more than old ones.
        tally_id = f"mastery:{user.id}:{concept}"
        raw = await self._state.get_quiz(session_id, tally_id)
        previous = float(raw) if raw is not None else 0.3
        mastery = round(0.6 * previous + 0.4 * (1.0 if correct else 0.0), 3)
        await self._state.put_quiz(session_id, tally_id, str(mastery))
        return mastery

    def _over_limits(self, session_id: str, user: UserRef) -> FrameError | None:
        s = self._settings
        day = int(time.time() // 86400)
        if self._session_tokens[session_id] >= s.tutor_session_token_budget:
            return FrameError(ErrorCode.RATE_LIMITED, "this session's tutor budget is used up")
        if self._user_tokens[user.id, day] >= s.tutor_user_token_budget:
            return FrameError(ErrorCode.RATE_LIMITED, "your tutor budget for today is used up")
        if not self._user_asks[user.id].take():
            return FrameError(ErrorCode.RATE_LIMITED, "too many questions; wait a little")
        if not self._session_asks[session_id].take():
            return FrameError(ErrorCode.RATE_LIMITED, "this room asks too fast; wait a little")
        return None

    # -- answering ------------------------------------------------------------------------

    def kick(self, session_id: str) -> None:
        """Make sure this process tries to answer the session's queued asks."""
        task = self._drains.get(session_id)
        if task is None or task.done():
            self._drains[session_id] = asyncio.create_task(self._drain(session_id))

    async def _drain(self, session_id: str) -> None:
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

    async def _answer_queue(self, session_id: str) -> None:
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
        topic = await self._topic(ask.session_id)
        topic_id = topic["id"] if topic is not None else None
        tools = TurnTools(
            session_id=ask.session_id,
            turn_id=ask.turn_id,
            asker=ask.user,
            topic_id=topic_id,
            hub=self._hub,
            state=self._state,
            search=self._search,
        )
        messages = await self._messages(ask, topic, tools)
        turn = Turn(
            ask,
            hub=self._hub,
            provider=self.provider,
            tools=tools,
            messages=messages,
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
        spent = turn.tokens_in + turn.tokens_out
        self._session_tokens[ask.session_id] += spent
        self._user_tokens[ask.user.id, int(time.time() // 86400)] += spent
        self._metrics.tutor_turns.labels(state.value).inc()
        if turn.ttft_ms is not None:
            self._metrics.tutor_ttft.observe(turn.ttft_ms / 1000)

    async def _messages(
        self, ask: Ask, topic: dict[str, Any] | None, tools: TurnTools
    ) -> list[Message]:
        history: list[str] = []
        if self._settings.tutor_history_events:
            start = max(0, ask.seq - 1 - _HISTORY_WINDOW)
            events = await self._live.log.read(ask.session_id, start, _HISTORY_WINDOW)
            history = [e.data for e in events if e.seq < ask.seq]
        goals = await self._goals(ask.session_id, topic) if topic is not None else []
        messages = [system_message(topic, tools=self.provider.supports_tools, goals=goals)]
        if topic is not None and not self.provider.supports_tools:
            # A model without tools gets the best passages up front instead.
            found = await self._search.search(int(topic["id"]), ask.text, SEARCH_LIMIT)
            tools.cited.extend(found)
            quoted = passages_message(found)
            if quoted is not None:
                messages.append(quoted)
        messages.extend(history_messages(history, self._settings.tutor_history_events))
        messages.append(Message("user", f"{ask.user.name}: {ask.text}", name=ask.user.name))
        return messages

    async def _topic(self, session_id: str) -> dict[str, Any] | None:
        try:
            async with self._db() as db:
                session = await db.get(StudySession, int(session_id))
                if session is None or session.topic_id is None:
                    return None
                topic = await db.get(Topic, session.topic_id)
                return topic_payload(topic) if topic is not None else None
        except Exception as exc:
            if is_database_unavailable(exc):
                return None  # answer without the topic rather than not at all
            raise

    async def _goals(self, session_id: str, topic: dict[str, Any]) -> list[str]:
        """The session members' goals on the topic, as one line each."""
        query = (
            select(User.display_name, Goal.title, Goal.metric, Goal.target, Goal.due_date)
            .join(Membership, Membership.user_id == Goal.user_id)
            .join(User, User.id == Goal.user_id)
            .where(Membership.session_id == int(session_id), Goal.topic_id == int(topic["id"]))
            .order_by(Goal.id)
            .limit(_GOALS_SHOWN)
        )
        try:
            async with self._db() as db:
                rows = (await db.execute(query)).all()
        except Exception as exc:
            if is_database_unavailable(exc):
                return []
            raise
        return [
            f"{name}: {title} ({metric} {target:g}"
            + (f", by {due.isoformat()})" if due is not None else ")")
            for name, title, metric, target, due in rows
        ]

    async def _interrupted(self, ask: Ask) -> None:
        """End a turn whose process died, unless it had finished before dying."""
        after = await self._live.log.read(ask.session_id, ask.seq)
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
                code="interrupted",
                message="the server answering this question stopped; ask again",
                ts=now_iso(),
            ),
        )
        self._metrics.tutor_turns.labels("interrupted").inc()

    # -- lifecycle ------------------------------------------------------------------------

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
        await self.provider.close()


def _parse_ask(session_id: str, event: LoggedEvent) -> Ask:
    body = json.loads(event.data)
    user = UserRef.model_validate(body["user"])
    return Ask(session_id, event.seq, str(body["turn_id"]), user, str(body["text"]))
