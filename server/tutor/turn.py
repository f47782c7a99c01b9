"""One tutor turn: ``agent.start``, coalesced ``agent.delta``s, exactly one terminal event.

A turn moves ``queued → streaming → done | error | stopped`` and nothing else; whatever goes
wrong (the model fails, stalls or drops, the turn is cancelled) it ends with exactly one
``agent.done`` or ``agent.error``, and the deltas it sent concatenate to ``agent.done.text``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from protocol.errors import AgentErrorCode
from protocol.events import (
    AgentDeltaEvent,
    AgentDoneEvent,
    AgentErrorEvent,
    AgentFallbackEvent,
    AgentStartEvent,
    Citation,
    TurnUsage,
    UserRef,
    now_iso,
)
from server.rooms.hub import Hub
from server.tutor.budget import Prompt, TokenCount, fit
from server.tutor.coalesce import Coalescer
from server.tutor.hygiene import AnswerFilter
from server.tutor.provider import (
    CompletionRequest,
    Message,
    Provider,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsDone,
    Truncated,
    Usage,
)
from server.tutor.tools import TOOL_SPECS, TurnTools

log = logging.getLogger(__name__)

# How often a turn looks for a cancel requested through another process.
CANCEL_POLL_S = 0.25
# Model → tools → model rounds in one turn; a model that keeps calling tools is cut off.
MAX_TOOL_ROUNDS = 3
# What the fallback model is asked after the answer it takes over.
CONTINUE = (
    "(The answer above was cut off. Continue it from exactly where it stops, without "
    "repeating any of it.)"
)


class TurnState(Enum):
    QUEUED = "queued"
    STREAMING = "streaming"
    DONE = "done"
    ERROR = "error"
    STOPPED = "stopped"


_NEXT = {
    TurnState.QUEUED: {TurnState.STREAMING, TurnState.STOPPED, TurnState.ERROR},
    TurnState.STREAMING: {TurnState.DONE, TurnState.ERROR, TurnState.STOPPED},
}


@dataclass(frozen=True)
class Ask:
    session_id: int
    seq: int
    turn_id: str
    user: UserRef
    text: str


@dataclass(frozen=True)
class TurnSettings:
    max_tokens: int
    coalesce_s: float
    coalesce_chars: int


class _Stop(Exception):
    """The turn was cancelled."""


class Turn:
    def __init__(
        self,
        ask: Ask,
        *,
        hub: Hub,
        provider: Provider,
        tools: TurnTools,
        prompt: Prompt,
        fallback: Provider | None = None,
        settings: TurnSettings,
        cancel_requested: asyncio.Event,
        remote_cancel: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.ask = ask
        self.state = TurnState.QUEUED
        self._hub = hub
        self._provider = provider
        # Takes over, once, if the provider fails; every model that wrote part of the answer.
        self._fallback = fallback
        self.models = [provider.model]
        self._tools = tools
        self._prompt = prompt
        # This turn's tool calls and their results, after the question.
        self._tail: list[Message] = []
        self._count: TokenCount | None = None
        names = [ask.user.name, *(m.name for m in prompt.history if m.name)]
        # What the room sees: no speaker label or passage marker (see hygiene).
        self._filter = AnswerFilter(names)
        # A model that starts writing a learner's next message has finished its own.
        self._stop = tuple(dict.fromkeys(f"\n{name}:" for name in names))
        self.truncated = False
        self._settings = settings
        self._cancel = cancel_requested
        self._remote_cancel = remote_cancel
        self.text = ""
        self.tokens_in = 0
        self.tokens_out = 0
        self.ttft_ms: int | None = None

    def _advance(self, to: TurnState) -> None:
        if to not in _NEXT.get(self.state, set()):
            raise RuntimeError(f"turn {self.ask.turn_id}: {self.state.value} -> {to.value}")
        self.state = to

    async def run(self) -> TurnState:
        """Stream the answer into the room; returns the final state."""
        ask = self.ask
        await self._hub.publish(
            ask.session_id, AgentStartEvent(turn_id=ask.turn_id, in_reply_to=ask.seq, ts=now_iso())
        )
        started = time.monotonic()
        coalescer = Coalescer(self._settings.coalesce_s, self._settings.coalesce_chars)
        try:
            if await self._cancelled():
                raise _Stop
            self._count = await self._provider.token_counter()
            self._advance(TurnState.STREAMING)
            for _ in range(MAX_TOOL_ROUNDS + 1):
                calls = await self._round(coalescer, started)
                if not calls:
                    break
                await self._use_tools(calls)
            await self._flush(coalescer, last=True)
        except _Stop:
            await self._flush(coalescer, last=True)
            self._advance(TurnState.STOPPED)
            await self._finish(stopped=True)
            return self.state
        except ProviderError as exc:
            await self._flush(coalescer, last=True)
            self._advance(TurnState.ERROR)
            await self._fail(exc.code, exc.message)
            return self.state
        self._advance(TurnState.DONE)
        await self._finish(stopped=False)
        return self.state

    async def _round(self, coalescer: Coalescer, started: float) -> tuple[ToolCall, ...]:
        """One model call; if the provider fails it (after its own retries), the fallback
        makes it again, continuing the answer already shown."""
        try:
            return await self._stream_round(coalescer, started)
        except ProviderError as failure:
            fallback, self._fallback = self._fallback, None
            if fallback is None:
                raise
            try:
                self._count = await fallback.token_counter()
            except ProviderError:
                raise failure from None  # the fallback is not there either: say what failed
            await self._flush(coalescer)
            await self._hub.publish(
                self.ask.session_id,
                AgentFallbackEvent(
                    turn_id=self.ask.turn_id,
                    from_=self._provider.model,
                    to=fallback.model,
                    reason=failure.code,
                    ts=now_iso(),
                ),
            )
            log.warning(
                "turn %s: %s failed (%s), %s goes on with it",
                self.ask.turn_id,
                self._provider.model,
                failure.message,
                fallback.model,
            )
            self._provider = fallback
            self.models.append(fallback.model)
            if self.text:
                self._tail += [Message("assistant", self.text), Message("user", CONTINUE)]
            return await self._stream_round(coalescer, started)

    async def _stream_round(self, coalescer: Coalescer, started: float) -> tuple[ToolCall, ...]:
        """One model call; returns the tool calls it ended with (empty: the answer is done)."""
        assert self._count is not None
        specs = TOOL_SPECS if self._provider.supports_tools else ()
        fitted = fit(
            self._prompt,
            self._tail,
            context_tokens=self._provider.context_tokens,
            max_tokens=self._settings.max_tokens,
            count=self._count,
            tools=specs,
        )
        # The passages the model is given are cited, as those it finds by searching are.
        cited = self._tools.cited
        cited.extend(p for p in fitted.passages if p not in cited)
        request = CompletionRequest(
            messages=tuple(fitted.messages),
            max_tokens=fitted.max_tokens,
            tools=specs,
            stop=self._stop,
        )
        events: asyncio.Queue[StreamEvent | BaseException | None] = asyncio.Queue()
        producer = asyncio.create_task(self._produce(request, events))
        calls: tuple[ToolCall, ...] = ()
        try:
            while True:
                wait = coalescer.due_in()
                timeout = CANCEL_POLL_S if wait is None else min(wait, CANCEL_POLL_S)
                try:
                    item = await asyncio.wait_for(events.get(), timeout)
                except TimeoutError:
                    if await self._cancelled():
                        raise _Stop from None
                    if coalescer.due_in() == 0.0:
                        await self._flush(coalescer)
                    continue
                if item is None:
                    return calls
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, TextDelta):
                    if self.ttft_ms is None and item.text:
                        self.ttft_ms = round((time.monotonic() - started) * 1000)
                    if self._show(coalescer, self._filter.feed(item.text)):
                        await self._flush(coalescer)
                elif isinstance(item, Truncated):
                    self.truncated = True
                elif isinstance(item, ToolCallsDone):
                    calls = item.calls
                elif isinstance(item, Usage):
                    self.tokens_in += item.prompt_tokens
                    self.tokens_out += item.completion_tokens
                if self._cancel.is_set():
                    raise _Stop
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer

    async def _produce(
        self, request: CompletionRequest, events: asyncio.Queue[StreamEvent | BaseException | None]
    ) -> None:
        stream = self._provider.stream(request)
        try:
            async for event in stream:
                events.put_nowait(event)
            events.put_nowait(None)
        except ProviderError as exc:
            events.put_nowait(exc)
        except Exception as exc:
            log.exception("tutor provider failed")
            events.put_nowait(ProviderError(AgentErrorCode.MODEL_ERROR, f"the model failed: {exc}"))
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _use_tools(self, calls: tuple[ToolCall, ...]) -> None:
        self._tail.append(Message("assistant", "", tool_calls=calls))
        for call in calls:
            result = await self._tools.run(call)
            self._tail.append(Message("tool", result, tool_call_id=call.id))

    def _show(self, coalescer: Coalescer, text: str) -> bool:
        """Add ``text`` to the answer; whether the coalescer wants it sent now."""
        self.text += text
        return bool(text) and coalescer.add(text)

    async def _flush(self, coalescer: Coalescer, *, last: bool = False) -> None:
        if last:
            # What the filter still held back (a label or marker that never completed).
            self._show(coalescer, self._filter.finish())
        text = coalescer.take()
        if text:
            await self._hub.publish(
                self.ask.session_id,
                AgentDeltaEvent(turn_id=self.ask.turn_id, text=text, ts=now_iso()),
            )

    async def _cancelled(self) -> bool:
        if self._cancel.is_set():
            return True
        if self._remote_cancel is not None and await self._remote_cancel():
            self._cancel.set()
            return True
        return False

    async def _finish(self, *, stopped: bool) -> None:
        citations = [
            Citation(
                material_id=p.material_id, chunk_id=p.chunk_id, filename=p.filename, page=p.page
            )
            for p in self._tools.cited
        ]
        await self._hub.publish(
            self.ask.session_id,
            AgentDoneEvent(
                turn_id=self.ask.turn_id,
                text=self.text,
                usage=TurnUsage(tokens_in=self.tokens_in, tokens_out=self.tokens_out),
                citations=citations,
                stopped=stopped,
                truncated=self.truncated,
                model=self._provider.model,
                models=self.models,
                ttft_ms=self.ttft_ms,
                ts=now_iso(),
            ),
        )

    async def _fail(self, code: str, message: str) -> None:
        await self._hub.publish(
            self.ask.session_id,
            AgentErrorEvent(turn_id=self.ask.turn_id, code=code, message=message, ts=now_iso()),
        )
