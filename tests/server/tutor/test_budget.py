"""Fitting a request into the model's window: what is kept, cut and dropped, in which order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.tutor.budget import (
    CUT_MARK,
    PER_MESSAGE,
    Prompt,
    estimate_tokens,
    fit,
)
from server.tutor.knowledge import Passage
from server.tutor.provider import Message, ToolCall
from server.tutor.tools import TOOL_SPECS


def words(text: str) -> int:
    """A tokenizer where every word is a token: easy to reason about."""
    return len(text.split())


def said(name: str, n: int, word: str = "word") -> Message:
    return Message("user", f"{name}: " + " ".join([word] * n), name=name)


def passage(i: int, n: int = 20) -> Passage:
    return Passage(material_id=1, chunk_id=i, text=" ".join([f"p{i}"] * n), score=1.0 / i)


SYSTEM = Message("system", " ".join(["rule"] * 50))
QUESTION = said("Ada", 10, "why")


def total(messages: list[Message]) -> int:
    return sum(words(m.content) + PER_MESSAGE for m in messages)


def test_a_small_prompt_goes_whole() -> None:
    prompt = Prompt(SYSTEM, (passage(1),), (said("Bob", 5), said("Ada", 5)), QUESTION)
    fitted = fit(prompt, context_tokens=4096, max_tokens=512, count=words)
    assert fitted.messages[0] == SYSTEM
    assert fitted.messages[-1] == QUESTION
    assert fitted.messages[2:4] == list(prompt.history)
    assert fitted.passages == (passage(1),)
    assert (fitted.history_kept, fitted.history_cut, fitted.question_cut) == (2, 0, False)
    assert fitted.max_tokens == 512


def test_the_oldest_history_goes_first_and_long_messages_are_cut() -> None:
    history = tuple(said(f"m{i}", 100) for i in range(30))
    prompt = Prompt(SYSTEM, (), history, QUESTION)
    fitted = fit(prompt, context_tokens=1024, max_tokens=256, count=words)
    kept = fitted.messages[1:-1]
    # The newest messages stay, in order; a message of 100 words is cut to an eighth of 1024.
    assert [m.name for m in kept][-3:] == ["m27", "m28", "m29"]
    assert all(words(m.content) <= 1024 // 8 for m in kept)
    assert fitted.history_kept == len(kept) < 30
    assert fitted.prompt_tokens + fitted.max_tokens <= 1024
    assert total(fitted.messages) == fitted.prompt_tokens
    assert fitted.messages[-1] == QUESTION


def test_one_huge_message_is_cut_not_allowed_to_push_the_rest_out() -> None:
    huge = said("Bob", 4000)
    prompt = Prompt(SYSTEM, (), (said("Ada", 5), huge), QUESTION)
    fitted = fit(prompt, context_tokens=2048, max_tokens=512, count=words)
    cut = fitted.messages[-2]
    assert cut.name == "Bob" and cut.content.endswith(CUT_MARK)
    assert words(cut.content) + PER_MESSAGE <= 2048 // 8
    assert fitted.messages[1].content == "Ada: word word word word word"
    assert fitted.history_cut == 1


def test_the_best_passages_are_kept_before_any_history() -> None:
    passages = tuple(passage(i, 200) for i in range(1, 5))
    history = tuple(said(f"m{i}", 40) for i in range(10))
    prompt = Prompt(SYSTEM, passages, history, QUESTION)
    fitted = fit(prompt, context_tokens=1024, max_tokens=256, count=words)
    assert fitted.passages == passages[: len(fitted.passages)]
    assert 1 <= len(fitted.passages) < 4
    assert fitted.history_kept < len(history)
    quoted = fitted.messages[1]
    assert quoted.role == "user" and "p1" in quoted.content


def test_a_question_too_long_for_the_window_keeps_its_start_and_its_end() -> None:
    question = Message("user", "Ada: start " + "filler " * 3000 + "so what is ATP?", name="Ada")
    prompt = Prompt(SYSTEM, (passage(1),), (said("Bob", 5),), question)
    fitted = fit(prompt, context_tokens=1024, max_tokens=256, count=words)
    asked = fitted.messages[-1]
    assert fitted.question_cut
    assert asked.content.startswith("Ada: start") and asked.content.endswith("so what is ATP?")
    assert CUT_MARK in asked.content
    assert fitted.prompt_tokens + fitted.max_tokens <= 1024


def test_tool_rounds_and_tools_are_counted_and_kept() -> None:
    calls = (ToolCall("c1", "search_materials", '{"query": "atp"}'),)
    tail = [
        Message("assistant", "", tool_calls=calls),
        Message("tool", " ".join(["found"] * 300), tool_call_id="c1"),
    ]
    history = tuple(said(f"m{i}", 60) for i in range(20))
    prompt = Prompt(SYSTEM, (), history, QUESTION)
    without = fit(prompt, context_tokens=2048, max_tokens=512, count=words)
    fitted = fit(prompt, tail, context_tokens=2048, max_tokens=512, count=words, tools=TOOL_SPECS)
    assert fitted.messages[-2:] == tail and fitted.messages[-3] == QUESTION
    assert fitted.history_kept < without.history_kept
    assert fitted.prompt_tokens + fitted.max_tokens <= 2048


@settings(max_examples=60, deadline=None)
@given(
    history=st.lists(st.text(min_size=0, max_size=3000), max_size=40),
    question=st.text(min_size=1, max_size=6000),
    context=st.integers(min_value=512, max_value=8192),
    max_tokens=st.integers(min_value=16, max_value=2048),
)
def test_whatever_the_room_said_the_request_fits(
    history: list[str], question: str, context: int, max_tokens: int
) -> None:
    prompt = Prompt(
        SYSTEM,
        tuple(passage(i, 80) for i in range(1, 5)),
        tuple(Message("user", f"Bob: {text}", name="Bob") for text in history),
        Message("user", f"Ada: {question}", name="Ada"),
    )
    fitted = fit(prompt, context_tokens=context, max_tokens=max_tokens, count=estimate_tokens)
    counted = sum(estimate_tokens(m.content) + PER_MESSAGE for m in fitted.messages)
    assert counted == fitted.prompt_tokens
    assert fitted.prompt_tokens + fitted.max_tokens <= context
    assert fitted.max_tokens >= 1
    assert fitted.messages[-1].content.startswith("Ada: ")


def test_the_estimate_errs_high() -> None:
    english = "The mitochondria is the powerhouse of the cell, where respiration makes ATP. " * 20
    # Real tokenizers spend about one token per four characters of English.
    assert estimate_tokens(english) >= len(english) / 4
    assert estimate_tokens("光合作用") >= 4
    assert estimate_tokens("") == 0
