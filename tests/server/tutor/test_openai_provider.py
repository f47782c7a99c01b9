"""The OpenAI provider against a real OpenAI-compatible server on loopback, driven by scripts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from server.tutor.openai_provider import OpenAIProvider
from server.tutor.provider import (
    CompletionRequest,
    Message,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsDone,
    ToolSpec,
    Usage,
)
from tests.fakes.scripted_openai import (
    Drop,
    HttpError,
    ScriptedOpenAI,
    Stall,
    Text,
    ToolCallStep,
)
from tests.fakes.scripted_openai import (
    Script as S,
)
from tests.fakes.scripted_openai import (
    Usage as UsageStep,
)

ASK = CompletionRequest(
    messages=(
        Message("system", "You are a patient tutor."),
        Message("user", "Why is the sky blue?", name="ada"),
    ),
    max_tokens=64,
)

MakeProvider = Callable[..., OpenAIProvider]


@pytest.fixture
async def make_provider(scripted_openai: ScriptedOpenAI) -> AsyncIterator[MakeProvider]:
    """Providers aimed at the scripted server, with test-sized timeouts and backoff."""
    made: list[OpenAIProvider] = []

    def make(**overrides: Any) -> OpenAIProvider:
        options: dict[str, Any] = {
            "api_key": "test-key",
            "base_url": scripted_openai.base_url,
            "model": "tutor-model",
            "connect_timeout_s": 2.0,
            "first_token_timeout_s": 2.0,
            "idle_timeout_s": 2.0,
            "max_retries": 2,
            "max_retry_wait_s": 2.0,
            "backoff_base_s": 0.01,
        }
        options.update(overrides)
        provider = OpenAIProvider(**options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


async def collect(
    provider: OpenAIProvider, request: CompletionRequest = ASK
) -> tuple[list[StreamEvent], ProviderError | None]:
    """Everything the stream yielded, and the error that ended it, if any."""
    events: list[StreamEvent] = []
    try:
        async for event in provider.stream(request):
            events.append(event)
    except ProviderError as err:
        return events, err
    return events, None


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def wait_for(condition: Callable[[], bool], within: float = 2.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.01)


# --- the happy path --------------------------------------------------------------------------


async def test_streams_the_scripted_text_then_usage(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    scripted_openai.enqueue(S(Text("Rayleigh"), Text(" scatter"), Text("ing."), UsageStep(21, 3)))

    events, error = await collect(make_provider())

    assert error is None
    assert events == [
        TextDelta("Rayleigh"),
        TextDelta(" scatter"),
        TextDelta("ing."),
        Usage(prompt_tokens=21, completion_tokens=3),
    ]


async def test_token_script_streams_every_piece(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    script = S.tokens("Short wavelengths scatter more, so blue light fills the sky.")
    scripted_openai.enqueue(script)

    events, error = await collect(make_provider())

    assert error is None
    assert text_of(events) == script.text
    assert len([e for e in events if isinstance(e, TextDelta)]) > 5
    assert isinstance(events[-1], Usage) and events[-1].completion_tokens > 0


async def test_request_carries_model_limits_messages_and_tools(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    lookup = ToolCall(id="call_1", name="search_notes", arguments='{"q": "scattering"}')
    request = CompletionRequest(
        messages=(
            Message("system", "You are a patient tutor."),
            Message("user", "Why is the sky blue?", name="Zoë O'Brien"),
            Message("user", "and sunsets?", name="🙂"),
            Message("assistant", "", tool_calls=(lookup,)),
            Message("tool", "Notes: Rayleigh scattering", tool_call_id="call_1"),
        ),
        max_tokens=321,
        temperature=0.2,
        tools=(
            ToolSpec(
                name="search_notes",
                description="Search the topic's materials.",
                parameters={"type": "object", "properties": {"q": {"type": "string"}}},
            ),
        ),
    )

    _, error = await collect(make_provider(), request)

    assert error is None
    [sent] = scripted_openai.completion_requests()
    assert sent.headers["authorization"] == "Bearer test-key"
    body = sent.body
    assert body["model"] == "tutor-model"
    assert body["max_tokens"] == 321
    assert body["temperature"] == 0.2
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "You are a patient tutor."},
        {"role": "user", "content": "Why is the sky blue?", "name": "Zoe_O_Brien"},
        {"role": "user", "content": "and sunsets?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "search_notes", "arguments": '{"q": "scattering"}'},
                }
            ],
        },
        {"role": "tool", "content": "Notes: Rayleigh scattering", "tool_call_id": "call_1"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "search_notes",
                "description": "Search the topic's materials.",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
    ]


async def test_request_without_tools_sends_no_tools_field(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    await collect(make_provider())

    [sent] = scripted_openai.completion_requests()
    assert "tools" not in sent.body
    assert sent.body["messages"][1] == {
        "role": "user",
        "content": "Why is the sky blue?",
        "name": "ada",
    }


async def test_tool_calls_are_assembled_from_split_deltas(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    search_args = '{"query": "light scattering", "limit": 3}'
    quiz_args = '{"concept": "Rayleigh"}'
    scripted_openai.enqueue(
        S(
            Text("Let me check."),
            ToolCallStep("search_notes", search_args, id="call_a", piece_chars=5),
            ToolCallStep("make_quiz", quiz_args, id="call_b", piece_chars=2),
            UsageStep(40, 12),
        )
    )

    events, error = await collect(make_provider())

    assert error is None
    assert events == [
        TextDelta("Let me check."),
        ToolCallsDone(
            (
                ToolCall(id="call_a", name="search_notes", arguments=search_args),
                ToolCall(id="call_b", name="make_quiz", arguments=quiz_args),
            )
        ),
        Usage(prompt_tokens=40, completion_tokens=12),
    ]


# --- retries before the first token ----------------------------------------------------------


async def test_rate_limit_waits_as_long_as_retry_after_asks(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    scripted_openai.enqueue(S(HttpError(429, retry_after=0.3)), S.tokens("After the wait."))

    events, error = await collect(make_provider())

    assert error is None
    assert text_of(events) == "After the wait."
    first, second = scripted_openai.completion_requests()
    assert second.at - first.at >= 0.28


async def test_retry_after_is_capped(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    scripted_openai.enqueue(S(HttpError(429, retry_after=60)), S.tokens("Soon enough."))

    # Waiting the full minute would trip this guard; the cap makes it a tenth of a second.
    async with asyncio.timeout(5):
        events, error = await collect(make_provider(max_retry_wait_s=0.1))

    assert error is None
    assert text_of(events) == "Soon enough."


async def test_rate_limit_beyond_retries_reports_the_wait(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    scripted_openai.enqueue(S(HttpError(429, retry_after=7)))

    events, error = await collect(make_provider(max_retries=0))

    assert events == []
    assert error is not None
    assert (error.code, error.retryable, error.retry_after) == ("rate_limited", True, 7.0)


async def test_server_errors_are_retried_until_success(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    scripted_openai.enqueue(S(HttpError(500)), S(HttpError(503)), S.tokens("Third time lucky."))

    events, error = await collect(make_provider(max_retries=2))

    assert error is None
    assert text_of(events) == "Third time lucky."
    assert len(scripted_openai.completion_requests()) == 3


async def test_server_errors_beyond_retries_are_unavailable(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    scripted_openai.enqueue(*(S(HttpError(500)) for _ in range(4)))

    events, error = await collect(make_provider(max_retries=2))

    assert events == []
    assert error is not None and error.code == "unavailable"
    assert len(scripted_openai.completion_requests()) == 3


@pytest.mark.parametrize(("status", "code"), [(401, "auth"), (403, "auth"), (400, "bad_request")])
async def test_client_errors_are_not_retried(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider, status: int, code: str
) -> None:
    scripted_openai.enqueue(S(HttpError(status)), S.tokens("must not be asked for"))

    events, error = await collect(make_provider())

    assert events == []
    assert error is not None
    assert (error.code, error.retryable) == (code, False)
    assert len(scripted_openai.completion_requests()) == 1


async def test_unreachable_server_is_unavailable(make_provider: MakeProvider) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]

    events, error = await collect(
        make_provider(base_url=f"http://127.0.0.1:{closed_port}/v1", max_retries=1)
    )

    assert events == []
    assert error is not None and error.code == "unavailable"


# --- timeouts --------------------------------------------------------------------------------


async def test_silence_before_the_first_token_times_out_after_retries(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    scripted_openai.enqueue(S(Stall(5)), S(Stall(5)))

    events, error = await collect(make_provider(first_token_timeout_s=0.3, max_retries=1))

    assert events == []
    assert error is not None
    assert (error.code, error.retryable) == ("timeout", True)
    assert len(scripted_openai.completion_requests()) == 2


async def test_first_token_timeout_counts_from_the_request_not_the_headers(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    # The response and its role-only chunk arrive at once, but no token follows.
    scripted_openai.enqueue(S(Text(""), Stall(5)), S.tokens("Recovered."))

    events, error = await collect(make_provider(first_token_timeout_s=0.3, max_retries=1))

    assert error is None
    assert text_of(events) == "Recovered."
    assert len(scripted_openai.completion_requests()) == 2


async def test_silence_mid_answer_times_out_without_retry(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    scripted_openai.enqueue(S(Text("The sky"), Text(" is"), Stall(5), Text(" blue.")))

    events, error = await collect(make_provider(idle_timeout_s=0.3))

    assert text_of(events) == "The sky is"
    assert error is not None
    assert (error.code, error.retryable) == ("timeout", False)
    assert len(scripted_openai.completion_requests()) == 1


# --- broken streams and early close ----------------------------------------------------------


async def test_dropped_stream_fails_after_the_tokens_already_sent(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    scripted_openai.enqueue(S(Text("one"), Text(" two"), Text(" three"), Drop()))

    events, error = await collect(make_provider())

    assert events == [TextDelta("one"), TextDelta(" two"), TextDelta(" three")]
    assert error is not None
    assert (error.code, error.retryable) == ("model_error", False)
    assert len(scripted_openai.completion_requests()) == 1


async def test_error_event_mid_stream_is_a_model_error(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    scripted_openai.enqueue(S(Text("Half an"), HttpError(500)))

    events, error = await collect(make_provider())

    assert text_of(events) == "Half an"
    assert error is not None and error.code == "model_error"
    assert len(scripted_openai.completion_requests()) == 1


async def test_closing_the_stream_early_hangs_up_on_the_server(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    scripted_openai.enqueue(S.tokens("word " * 200, per_token_delay=0.01))
    stream = make_provider().stream(ASK)

    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]

    assert isinstance(first, TextDelta)
    await wait_for(lambda: scripted_openai.disconnects == 1)


async def test_cancelling_the_turn_hangs_up_on_the_server(
    scripted_openai: ScriptedOpenAI, make_provider: MakeProvider
) -> None:
    scripted_openai.enqueue(S(Text("Thinking"), Stall(5), Text(" done.")))
    provider = make_provider()
    seen: list[StreamEvent] = []

    async def turn() -> None:
        async for event in provider.stream(ASK):
            seen.append(event)

    task = asyncio.create_task(turn())
    await wait_for(lambda: bool(seen))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await wait_for(lambda: scripted_openai.disconnects == 1)
    assert seen == [TextDelta("Thinking")]
