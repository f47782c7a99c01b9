"""The tutor's model behind the OpenAI chat completions API (or any server speaking it).

Streaming only. The SDK's own retries are off: a retry is only safe while nothing has been shown
to the room, which only this module knows, so it retries here, before the first event is
yielded, and never after. ``CompletionRequest.extra`` is sent as extra request body fields.

Deadlines: ``connect_timeout_s`` for the TCP/TLS connection; ``first_token_timeout_s`` from the
start of an attempt until the first chunk carrying model output (text or a tool call; the
opening role-only chunk does not count); then ``idle_timeout_s`` between chunks.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

import openai
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
)

from protocol.errors import AgentErrorCode
from server.tutor.budget import estimate_tokens
from server.tutor.provider import (
    CompletionRequest,
    Message,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsDone,
    ToolSpec,
    Truncated,
    Usage,
)

_NAME_JUNK = re.compile(r"[^a-zA-Z0-9_-]+")

# Context windows of OpenAI's model families, by name prefix; anything else (an unknown
# OpenAI-compatible server) is assumed to have the smallest window in common use.
_WINDOWS = (
    (re.compile(r"gpt-4\.1"), 1_000_000),
    (re.compile(r"gpt-5"), 400_000),
    (re.compile(r"gpt-4o|gpt-4-turbo"), 128_000),
    (re.compile(r"o[1-9]\b"), 200_000),
)
DEFAULT_WINDOW = 8192


def known_window(model: str) -> int:
    """The context window of ``model`` if it is one of OpenAI's, else :data:`DEFAULT_WINDOW`."""
    return next((tokens for name, tokens in _WINDOWS if name.match(model)), DEFAULT_WINDOW)


class OpenAIProvider:
    """Streams completions from an OpenAI-compatible server; see the module for its deadlines.

    Retries happen only before the first event is yielded: on 429, 5xx, connection failures and
    first-token timeouts, up to ``max_retries`` times, waiting what ``Retry-After`` asks (capped
    at ``max_retry_wait_s``) or an exponential backoff from ``backoff_base_s`` with jitter.
    """

    name = "openai"
    supports_tools = True

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        model: str,
        connect_timeout_s: float = 5.0,
        first_token_timeout_s: float = 30.0,
        idle_timeout_s: float = 20.0,
        max_retries: int = 2,
        max_retry_wait_s: float = 10.0,
        backoff_base_s: float = 0.5,
        context_tokens: int | None = None,
    ) -> None:
        self.model = model
        self._context_tokens = context_tokens or known_window(model)
        self._first_token_timeout_s = first_token_timeout_s
        self._idle_timeout_s = idle_timeout_s
        self._max_retries = max_retries
        self._max_retry_wait_s = max_retry_wait_s
        self._backoff_base_s = backoff_base_s
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            # Reads are bounded by our own first-token and idle deadlines, which know whether
            # the stream has started; an HTTP read timeout could not tell the two apart.
            timeout=openai.Timeout(
                connect=connect_timeout_s,
                read=None,
                write=connect_timeout_s,
                pool=connect_timeout_s,
            ),
        )

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    async def token_counter(self) -> Callable[[str], int]:
        # The API has no tokenizer, and the server may not be OpenAI's.
        return estimate_tokens

    async def close(self) -> None:
        await self._client.close()

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Stream one completion; see :meth:`server.tutor.provider.Provider.stream`."""
        # Checked once, so a malformed conversation fails before any request is made.
        self._messages(request)
        attempt = 0
        while True:
            attempt_state = _Attempt()
            try:
                async with aclosing(self._attempt(request, attempt_state)) as events:
                    async for event in events:
                        yield event
                return
            except ProviderError as err:
                if attempt_state.shown or not err.retryable or attempt >= self._max_retries:
                    raise
                delay = self._retry_delay(attempt, err.retry_after)
            attempt += 1
            await asyncio.sleep(delay)

    async def _attempt(
        self, request: CompletionRequest, state: _Attempt
    ) -> AsyncGenerator[StreamEvent, None]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._first_token_timeout_s
        chunks: openai.AsyncStream[ChatCompletionChunk] | None = None
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    chunks = await self._open(request)
            except TimeoutError:
                raise _first_token_timeout(self._first_token_timeout_s) from None
            assembly = _Assembly()
            while True:
                started = assembly.started
                try:
                    async with asyncio.timeout_at(
                        loop.time() + self._idle_timeout_s if started else deadline
                    ):
                        chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    if not started:
                        raise _first_token_timeout(self._first_token_timeout_s) from None
                    raise ProviderError(
                        AgentErrorCode.TIMEOUT,
                        f"the model went silent for {self._idle_timeout_s:g} s mid-answer",
                        retryable=not state.shown,
                    ) from None
                for event in assembly.feed(chunk):
                    state.shown = True
                    yield event
            for event in assembly.finish():
                state.shown = True
                yield event
        except openai.OpenAIError as exc:
            # With the stream open, a broken connection means the answer was cut off.
            raise _map_error(exc, cut_off=chunks is not None, shown=state.shown) from exc
        finally:
            if chunks is not None:
                # Closing the response hangs up on the server, so a cancelled turn stops the
                # model from generating (and billing) the rest of the answer.
                await chunks.close()

    async def _open(self, request: CompletionRequest) -> openai.AsyncStream[ChatCompletionChunk]:
        tools = [_tool_param(t) for t in request.tools]
        return await self._client.chat.completions.create(
            model=self.model,
            messages=self._messages(request),
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            # The API takes at most four.
            stop=list(request.stop[:4]) if request.stop else openai.omit,
            tools=tools if tools else openai.omit,
            extra_body=dict(request.extra) or None,
        )

    @staticmethod
    def _messages(request: CompletionRequest) -> list[ChatCompletionMessageParam]:
        return [_message_param(m) for m in request.messages]

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self._max_retry_wait_s)
        backoff = self._backoff_base_s * 2.0**attempt
        # Jitter spreads the retries of many rooms hit by the same outage; not security related.
        jittered = backoff * random.uniform(0.8, 1.2)  # noqa: S311
        return min(jittered, self._max_retry_wait_s)


@dataclass(slots=True)
class _Attempt:
    shown: bool = False  # an event reached the consumer, so this call can no longer be retried


@dataclass(slots=True)
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class _Assembly:
    """Turns chunks into events, gathering tool calls that arrive split across deltas."""

    def __init__(self) -> None:
        self.started = False  # model output (not just the role) has arrived
        self._calls: dict[int, _PartialCall] = {}
        self._calls_done = False

    def feed(self, chunk: ChatCompletionChunk) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta.content:
                self.started = True
                events.append(TextDelta(delta.content))
            for part in delta.tool_calls or ():
                self.started = True
                call = self._calls.setdefault(part.index, _PartialCall())
                if part.id:
                    call.id = part.id
                if part.function is not None:
                    if part.function.name:
                        call.name += part.function.name
                    if part.function.arguments:
                        call.arguments.append(part.function.arguments)
            if choice.finish_reason is not None:
                events.extend(self._flush_calls())
                if choice.finish_reason == "length":
                    events.append(Truncated())
        if chunk.usage is not None:
            events.append(Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens))
        return events

    def finish(self) -> list[StreamEvent]:
        # Some compatible servers end the stream without a finish_reason on the last choice.
        return self._flush_calls()

    def _flush_calls(self) -> list[StreamEvent]:
        if self._calls_done or not self._calls:
            return []
        self._calls_done = True
        calls = tuple(
            ToolCall(id=c.id or f"call_{i}", name=c.name, arguments="".join(c.arguments))
            for i, c in sorted(self._calls.items())
        )
        return [ToolCallsDone(calls)]


def _first_token_timeout(seconds: float) -> ProviderError:
    return ProviderError(
        AgentErrorCode.TIMEOUT, f"no answer from the model within {seconds:g} s", retryable=True
    )


def _map_error(exc: openai.OpenAIError, *, cut_off: bool, shown: bool) -> ProviderError:
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc)
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(
            AgentErrorCode.TIMEOUT, "the model server timed out", retryable=not shown
        )
    if isinstance(exc, openai.APIConnectionError):
        if cut_off:
            return ProviderError(
                AgentErrorCode.MODEL_ERROR, "the model's answer was cut off", retryable=not shown
            )
        return ProviderError(
            AgentErrorCode.UNAVAILABLE, "cannot reach the model server", retryable=True
        )
    return ProviderError(
        AgentErrorCode.MODEL_ERROR, f"the model call failed: {exc}", retryable=False
    )


def _status_error(exc: openai.APIStatusError) -> ProviderError:
    status = exc.status_code
    detail = f"the model server answered {status}"
    if status in (401, 403):
        return ProviderError(AgentErrorCode.AUTH, f"{detail}: check the API key", retryable=False)
    if status == 429:
        wait = _retry_after(exc)
        return ProviderError(AgentErrorCode.RATE_LIMITED, detail, retryable=True, retry_after=wait)
    if status >= 500:
        return ProviderError(
            AgentErrorCode.UNAVAILABLE, detail, retryable=True, retry_after=_retry_after(exc)
        )
    return ProviderError(AgentErrorCode.BAD_REQUEST, f"{detail}: {exc.message}", retryable=False)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, or ``Retry-After`` as seconds
    or an HTTP date."""
    headers = exc.response.headers
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _clean_name(name: str | None) -> str | None:
    """A speaker name as the API accepts it (``^[a-zA-Z0-9_-]{1,64}$``), or None."""
    if not name:
        return None
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = _NAME_JUNK.sub("_", ascii_name).strip("_")[:64]
    return cleaned or None


def _message_param(message: Message) -> ChatCompletionMessageParam:
    name = _clean_name(message.name)
    if message.role == "system":
        if name:
            return {"role": "system", "content": message.content, "name": name}
        return {"role": "system", "content": message.content}
    if message.role == "user":
        if name:
            return {"role": "user", "content": message.content, "name": name}
        return {"role": "user", "content": message.content}
    if message.role == "tool":
        if message.tool_call_id is None:
            raise ProviderError(
                AgentErrorCode.BAD_REQUEST, "a tool result needs the id of its tool call"
            )
        return {"role": "tool", "content": message.content, "tool_call_id": message.tool_call_id}
    calls: list[ChatCompletionMessageFunctionToolCallParam] = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in message.tool_calls
    ]
    if calls:
        # The API wants null rather than "" beside tool calls.
        return {"role": "assistant", "content": message.content or None, "tool_calls": calls}
    return {"role": "assistant", "content": message.content}


def _tool_param(tool: ToolSpec) -> ChatCompletionFunctionToolParam:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }
