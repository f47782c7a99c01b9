"""What the tutor asks of a language model, whichever provider serves it.

A provider turns a conversation into a stream of :class:`StreamEvent`. It never blocks the event
loop, and it reports every failure as a :class:`ProviderError` whose ``retryable`` and
``retry_after`` tell the turn whether trying again (before any token was shown) can help.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from protocol.errors import AgentErrorCode


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text exactly as the model produced it; may be invalid


@dataclass(frozen=True, slots=True)
class Message:
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    name: str | None = None  # the speaker, for group conversations
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema of the arguments object


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallsDone:
    """The model finished its message by asking for these tool calls."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Truncated:
    """The answer stopped because it reached ``max_tokens``, not because it was complete."""


StreamEvent = TextDelta | ToolCallsDone | Usage | Truncated


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    messages: tuple[Message, ...]
    max_tokens: int
    tools: tuple[ToolSpec, ...] = ()
    temperature: float = 0.4
    stop: tuple[str, ...] = ()
    """Texts that end the answer where they would begin (a learner's turn, a marker)."""
    extra: dict[str, Any] = field(default_factory=dict)


class ProviderError(Exception):
    """The model call failed.

    ``code`` (from the catalogue, :class:`AgentErrorCode`) becomes the ``code`` of the turn's
    ``agent.error``.
    """

    def __init__(
        self,
        code: AgentErrorCode,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class Provider(Protocol):
    name: str
    model: str
    supports_tools: bool

    @property
    def context_tokens(self) -> int:
        """The model's context window: what a request and its answer must fit in together."""
        ...

    async def token_counter(self) -> Callable[[str], int]:
        """How many tokens a text is to this model: its own tokenizer where there is one
        (loading the model if need be), else an estimate that errs high."""
        ...

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Stream one completion: text deltas, then optionally tool calls, then usage if known.

        Raises :class:`ProviderError`. Closing the iterator early (a cancelled turn) stops the
        model call and releases its connection or thread.
        """
        ...

    async def close(self) -> None: ...
