"""Fitting each model request into the context window, so a turn never fails for size.

A request must leave room for the answer inside ``context_tokens``. What is given up, first to
last: old history (a long message is cut to a share of the window; then whole messages go,
oldest first), then the weakest passages, then, only when the question alone would not fit,
the middle of the question. The system prompt, this turn's tool rounds and the question's
words are kept whenever they can be.

Counting uses the provider's tokenizer when it has one (the local model's own), else
:func:`estimate_tokens`, which errs high. Every message also pays :data:`PER_MESSAGE` for the
role markers a chat template wraps it in, and a margin stays free for what a template adds
around the whole conversation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from server.tutor.knowledge import Passage
from server.tutor.prompt import passages_message
from server.tutor.provider import Message, ToolSpec

# Given a text, how many tokens it is.
TokenCount = Callable[[str], int]

# Role markers and separators a chat template puts around one message (ChatML spends 5).
PER_MESSAGE = 8
# The answer keeps at least this share of the window, up to ``max_tokens``.
ANSWER_SHARE = 4
# One old message may fill at most this share of the window before it is cut.
HISTORY_MESSAGE_SHARE = 8
# An old message is not cut shorter than this: below it, it is left out whole.
MIN_CUT_TOKENS = 48
CUT_MARK = " […]"


def estimate_tokens(text: str) -> int:
    """An upper estimate for byte-level BPE tokenizers when the model's own is not at hand.

    English runs about four characters a token; three is assumed. Other scripts take more:
    every two bytes of their UTF-8 count as one token.
    """
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    other_bytes = len(text.encode("utf-8")) - ascii_chars
    return math.ceil(ascii_chars / 3 + other_bytes / 2)


@dataclass(frozen=True, slots=True)
class Prompt:
    """What one ask tells the model, before it is fitted."""

    system: Message
    passages: tuple[Passage, ...]
    """Retrieved for the ask, best first."""
    history: tuple[Message, ...]
    """The room's recent conversation, oldest first."""
    question: Message


@dataclass(frozen=True, slots=True)
class Fitted:
    messages: list[Message]
    prompt_tokens: int
    """As counted, overheads included."""
    max_tokens: int
    """What the answer may use."""
    passages: tuple[Passage, ...]
    """The passages the request carries."""
    history_kept: int
    history_cut: int
    question_cut: bool


def prompt_estimate(prompt: Prompt, context_tokens: int) -> int:
    """An upper estimate of what a turn's first request holds before its answer: the whole
    prompt, but never more than the window (fitting only ever takes away)."""
    messages = (prompt.system, *prompt.history, prompt.question)
    tokens = sum(estimate_tokens(message.content) + PER_MESSAGE for message in messages)
    tokens += sum(estimate_tokens(passage.text) + PER_MESSAGE for passage in prompt.passages)
    return min(tokens, context_tokens)


def fit(
    prompt: Prompt,
    tail: Sequence[Message] = (),
    *,
    context_tokens: int,
    max_tokens: int,
    count: TokenCount,
    tools: Sequence[ToolSpec] = (),
) -> Fitted:
    """The request for ``prompt`` followed by this turn's tool rounds (``tail``), fitted."""

    def size(message: Message) -> int:
        tokens = count(message.content) + PER_MESSAGE
        for call in message.tool_calls:
            tokens += count(call.name) + count(call.arguments) + PER_MESSAGE
        return tokens

    margin = max(16, context_tokens // 50)
    reserve = min(max_tokens, context_tokens // ANSWER_SHARE)
    tool_tokens = sum(
        count(json.dumps([t.name, t.description, t.parameters])) + PER_MESSAGE for t in tools
    )
    budget = context_tokens - reserve - margin - tool_tokens

    question = prompt.question
    fixed = size(prompt.system) + sum(size(m) for m in tail)
    question_cut = False
    if fixed + size(question) > budget:
        # Last resort: nothing else is left to give up (a huge question in a small window).
        room = max(MIN_CUT_TOKENS, budget - fixed - PER_MESSAGE)
        question = _replace(question, _cut_middle(question.content, room, count))
        question_cut = True
    used = fixed + size(question)

    passages: list[Passage] = []
    passage_tokens = 0
    for passage in prompt.passages:
        quoted = passages_message([*passages, passage])
        assert quoted is not None
        tokens = size(quoted)
        if used + tokens > budget:
            break
        passages.append(passage)
        passage_tokens = tokens
    used += passage_tokens

    cap = max(MIN_CUT_TOKENS, context_tokens // HISTORY_MESSAGE_SHARE)
    kept: list[Message] = []
    cut = 0
    for message in reversed(prompt.history):
        tokens = size(message)
        if tokens > cap:
            message = _replace(message, _cut_end(message.content, cap - PER_MESSAGE, count))
            tokens = size(message)
            cut += 1
        if used + tokens > budget:
            room = budget - used - PER_MESSAGE
            if room >= MIN_CUT_TOKENS:
                message = _replace(message, _cut_end(message.content, room, count))
                kept.append(message)
                used += size(message)
                cut += 1
            break
        kept.append(message)
        used += tokens
    kept.reverse()

    messages = [prompt.system]
    quoted = passages_message(passages)
    if quoted is not None:
        messages.append(quoted)
    messages += [*kept, question, *tail]
    return Fitted(
        messages=messages,
        prompt_tokens=used + tool_tokens,
        max_tokens=max(1, min(max_tokens, context_tokens - used - tool_tokens - margin)),
        passages=tuple(passages),
        history_kept=len(kept),
        history_cut=cut,
        question_cut=question_cut,
    )


def _replace(message: Message, content: str) -> Message:
    return Message(
        message.role,
        content,
        name=message.name,
        tool_calls=message.tool_calls,
        tool_call_id=message.tool_call_id,
    )


def _longest(text: str, tokens: int, count: TokenCount, shape: Callable[[int], str]) -> str:
    """``shape(n)`` for the largest ``n`` of characters whose result counts ≤ ``tokens``."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count(shape(middle)) <= tokens:
            low = middle
        else:
            high = middle - 1
    return shape(low)


def _cut_end(text: str, tokens: int, count: TokenCount) -> str:
    """The start of ``text``, marked as cut, within ``tokens``."""
    if count(text) <= tokens:
        return text
    return _longest(text, tokens, count, lambda n: text[:n].rstrip() + CUT_MARK)


def _cut_middle(text: str, tokens: int, count: TokenCount) -> str:
    """The start and the end of ``text`` (where a question usually is), within ``tokens``."""
    if count(text) <= tokens:
        return text

    def shape(n: int) -> str:
        head = n // 2
        return text[:head].rstrip() + CUT_MARK + " " + text[len(text) - (n - head) :].lstrip()

    return _longest(text, tokens, count, shape)
