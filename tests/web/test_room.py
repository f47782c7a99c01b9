"""Two people in one room: typing, the tutor's answer streaming in as Markdown, Stop, quizzes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.fakes.scripted_openai import (
    Drop,
    HttpError,
    Script,
    ScriptedOpenAI,
    Text,
    ToolCallStep,
    Usage,
)
from tests.web.helpers import PageOpener, chat_texts, rendered, room_path, study_room, wait_live

ANSWER = """A **fold** walks through a list and keeps *one* running value:

1. start from an initial value,
2. combine it with each element in turn,
3. hand back whatever is left.

```python
from functools import reduce

total = reduce(lambda acc, x: acc + x, [1, 2, 3], 0)  # 6
```

> `foldl` combines from the left, `foldr` from the right."""

QUESTION = "What does reduce(lambda acc, x: acc * x, [1, 2, 3, 4], 1) return?"
QUIZ = {
    "question": QUESTION,
    "choices": ["10", "24", "1", "[1, 2, 6, 24]"],
    "answer_index": 1,
    "concept": "folds",
}

# Records the answer's text length at every change of the stream, to see it grow in steps.
RECORD_ANSWER_LENGTHS = """() => {
  window.answerLengths = [];
  const list = document.getElementById("timeline");
  new MutationObserver(() => {
    const body = list.querySelector(".msg.answer .answer-body");
    if (body) window.answerLengths.push(body.textContent.length);
  }).observe(list, { subtree: true, childList: true, characterData: true });
}"""

# Streaming runs on both engines; what follows it in the page does not depend on them.
EMBEDDED_ONLY = pytest.mark.parametrize("backend", ["embedded"], indirect=True)

README_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "room.png"


async def two_in_a_room(
    server: Any, make_learner: Any, open_page: PageOpener
) -> tuple[Any, Page, Page]:
    ada = await make_learner(server.base_url, "Ada")
    ben = await make_learner(server.base_url, "Ben")
    room = await study_room(ada, ben)
    page_a = await open_page(server.base_url, ada, room_path(room))
    page_b = await open_page(server.base_url, ben, room_path(room))
    await wait_live(page_a, members=2)
    await wait_live(page_b, members=2)
    return room, page_a, page_b


async def answer_html(page: Page) -> str:
    await page.wait_for_selector(".msg.answer .answer-body[aria-busy=false]")
    html: str = await page.inner_html(".msg.answer .answer-body")
    return html


async def test_both_members_watch_the_same_answer_stream_in(
    make_server: Any,
    tutor_settings: dict[str, Any],
    scripted_model: ScriptedOpenAI,
    make_learner: Any,
    open_page: PageOpener,
) -> None:
    scripted_model.enqueue(Script.tokens(ANSWER, per_token_delay=0.01))
    server = await make_server(**tutor_settings)
    _, page_a, page_b = await two_in_a_room(server, make_learner, open_page)

    await page_b.locator("#composer-text").press_sequentially("Hmm")
    await expect(page_a.locator("#typing")).to_have_text("Ben is typing…")
    await page_b.locator("#composer-text").press("Enter")
    await expect(page_a.locator("#typing")).to_have_text("")
    assert await chat_texts(page_a) == ["Hmm"]

    for page in (page_a, page_b):
        await page.evaluate(RECORD_ANSWER_LENGTHS)
    await page_a.fill("#composer-text", "How does a fold work?")
    await page_a.click("#ask")
    await expect(page_b.locator(".msg.ask .body")).to_have_text("How does a fold work?")

    expected = await rendered(page_a, ANSWER)
    assert await answer_html(page_a) == expected
    assert await answer_html(page_b) == expected
    await expect(page_a.locator(".msg.answer .answer-body ol li")).to_have_count(3)
    await expect(
        page_b.locator(".msg.answer .answer-body pre code.language-python")
    ).to_contain_text("reduce(lambda acc, x")
    full = len(await page_a.text_content(".msg.answer .answer-body") or "")
    for page in (page_a, page_b):
        lengths: list[int] = await page.evaluate("window.answerLengths")
        partial = {n for n in lengths if 0 < n < full}
        assert len(partial) > 1, lengths  # seen growing, not only whole
    await expect(page_a.locator("#stop")).to_be_hidden()


@EMBEDDED_ONLY
async def test_stop_and_failures_end_the_answer_for_everyone(
    make_server: Any,
    tutor_settings: dict[str, Any],
    scripted_model: ScriptedOpenAI,
    make_learner: Any,
    open_page: PageOpener,
) -> None:
    long_answer = "Recursion is a function calling itself on a smaller problem. " * 20
    scripted_model.enqueue(Script.tokens(long_answer, per_token_delay=0.03))
    server = await make_server(**tutor_settings)
    _, page_a, page_b = await two_in_a_room(server, make_learner, open_page)
    await page_b.fill("#composer-text", "Explain recursion")
    await page_b.locator("#composer-text").press("Control+Enter")
    await expect(page_a.locator(".msg.answer .answer-body")).to_contain_text("Recursion is")
    await page_a.click("#stop")
    for page in (page_a, page_b):
        await expect(page.locator(".msg.answer.stopped .status")).to_have_text("stopped")
        shown = await page.text_content(".msg.answer .answer-body") or ""
        assert shown and long_answer.startswith(shown.strip()) and len(shown) < len(long_answer)
    await expect(page_b.locator("#stop")).to_be_hidden()

    # A turn that fails says so, in the answer's place, for everyone.
    scripted_model.enqueue(Script(HttpError(400, body={"error": {"message": "bad request"}})))
    await page_a.fill("#composer-text", "And now?")
    await page_a.click("#ask")
    for page in (page_a, page_b):
        failed = page.locator(".msg.answer.errored")
        await expect(failed.locator(".turn-error")).to_contain_text("The tutor could not answer")


@EMBEDDED_ONLY
async def test_an_answer_cut_at_the_length_limit_is_marked(
    make_server: Any,
    tutor_settings: dict[str, Any],
    scripted_model: ScriptedOpenAI,
    make_learner: Any,
    open_page: PageOpener,
) -> None:
    cut = Script.tokens("A fold walks through a list and keeps one running")
    scripted_model.enqueue(Script(*cut.steps, finish_reason="length"))
    server = await make_server(**tutor_settings)
    _, page_a, page_b = await two_in_a_room(server, make_learner, open_page)
    await page_a.fill("#composer-text", "What is a fold?")
    await page_a.click("#ask")
    for page in (page_a, page_b):
        answer = page.locator(".msg.answer.truncated")
        await expect(answer.locator(".truncated-note")).to_have_text(
            "Cut off at the tutor's length limit."
        )
        await expect(answer.locator(".answer-body")).to_contain_text("keeps one running")


@EMBEDDED_ONLY
async def test_an_answer_the_offline_model_finished_says_so(
    make_server: Any,
    tutor_settings: dict[str, Any],
    scripted_model: ScriptedOpenAI,
    make_learner: Any,
    open_page: PageOpener,
) -> None:
    scripted_model.enqueue(Script(Text("A fold walks through a list "), Drop()))
    settings = {**tutor_settings, "tutor_fallback": "local", "tutor_max_tokens": 16}
    server = await make_server(**settings)
    _, page_a, page_b = await two_in_a_room(server, make_learner, open_page)
    await page_a.fill("#composer-text", "What is a fold?")
    await page_a.click("#ask")
    for page in (page_a, page_b):
        answer = page.locator(".msg.answer.fell-back")
        await expect(answer.locator(".fallback-note")).to_contain_text(
            "failed (model_error); SmolLM2-135M-Instruct.Q4_1 finished the answer."
        )
        await expect(answer.locator(".answer-body")).to_contain_text("A fold walks through")
        await expect(answer.locator(".answer-body[aria-busy=false]")).to_have_count(1)


@EMBEDDED_ONLY
async def test_a_quiz_answered_wrong_comes_back_with_review(
    make_server: Any,
    tutor_settings: dict[str, Any],
    scripted_model: ScriptedOpenAI,
    make_learner: Any,
    open_page: PageOpener,
) -> None:
    scripted_model.enqueue(
        Script(ToolCallStep("pose_quiz", json.dumps(QUIZ), id="call_1"), Usage()),
        Script.tokens("Try the quiz."),
    )
    # Review ahead two minutes: a card answered wrong is due again after one.
    server = await make_server(**tutor_settings, review_ahead_s=120)
    _, page_a, page_b = await two_in_a_room(server, make_learner, open_page)
    await expect(page_a.locator("#review")).to_be_hidden()
    await page_a.fill("#composer-text", "Quiz me on folds")
    await page_a.click("#ask")
    first = page_a.locator(".quiz.card:not(.review)")
    await first.locator(".choice[data-choice='0']").click()  # "10": wrong
    await expect(first.locator(".quiz-feedback")).to_contain_text("Not quite")
    review = page_a.locator("#review")
    await expect(review).to_have_text("Review · 1 due", timeout=10_000)
    await review.click()
    for page in (page_a, page_b):
        again = page.locator(".quiz.card.review")
        await expect(again.locator(".quiz-badge")).to_have_text("Review")
        await expect(again.locator(".question")).to_have_text(QUESTION)
    await page_a.locator(".quiz.card.review .choice[data-choice='1']").click()  # "24": right
    await expect(review).to_contain_text("Next review", timeout=10_000)
    await expect(review).to_be_disabled()
    if os.environ.get("STUDYROOM_UPDATE_DOCS_IMAGES") == "1":
        await page_a.screenshot(path=str(README_IMAGE.with_name("review.png")))


@EMBEDDED_ONLY
async def test_refused_messages_are_marked_and_can_be_sent_again(
    make_server: Any, make_learner: Any, open_page: PageOpener
) -> None:
    server = await make_server(rate_limit_per_s=2, rate_limit_burst=3)
    _, page_a, _ = await two_in_a_room(server, make_learner, open_page)
    # Five messages in one go: three fit the burst, the rest are dropped by the server.
    await page_a.evaluate(
        """() => {
          const box = document.getElementById("composer-text");
          const form = document.getElementById("composer");
          for (let n = 1; n <= 5; n++) { box.value = `m${n}`; form.requestSubmit(); }
        }"""
    )
    await expect(page_a.locator("#toasts")).to_contain_text("Slow down")
    failed = page_a.locator("#timeline .msg.failed")
    await expect(failed).to_have_count(2)
    await expect(failed.locator(".body")).to_have_text(["m4", "m5"])
    assert await chat_texts(page_a) == ["m1", "m2", "m3"]
    await page_a.wait_for_timeout(1100)  # the server's bucket holds two tokens again
    for _ in range(2):
        await failed.first.get_by_role("button", name="retry").click()
    await expect(page_a.locator("#timeline .msg.chat:not(.pending)")).to_have_count(5)
    assert await chat_texts(page_a) == ["m1", "m2", "m3", "m4", "m5"]


@EMBEDDED_ONLY
async def test_a_quiz_is_answered_from_its_card(
    make_server: Any,
    tutor_settings: dict[str, Any],
    scripted_model: ScriptedOpenAI,
    make_learner: Any,
    open_page: PageOpener,
    screenshots_dir: Path,
    tmp_path: Path,
) -> None:
    scripted_model.enqueue(
        Script(ToolCallStep("search_materials", '{"query": "fold"}', id="call_1"), Usage()),
        Script(ToolCallStep("pose_quiz", json.dumps(QUIZ), id="call_2"), Usage()),
        Script.tokens(ANSWER, per_token_delay=0.005),
    )
    server = await make_server(**tutor_settings)
    room, page_a, page_b = await two_in_a_room(server, make_learner, open_page)
    await room.owner.client.upload(room.topic_id, _notes(tmp_path), filename="folds-notes.md")
    await page_a.click("#tab-goals")
    await page_a.click("#tab-materials")
    await expect(page_a.locator("#materials .material")).to_have_count(1)

    await page_b.fill("#composer-text", "I keep mixing up `foldl` and `foldr` — any tips?")
    await page_b.locator("#composer-text").press("Enter")
    await page_a.fill("#composer-text", "Let's ask the tutor for an example and a quick quiz.")
    await page_a.locator("#composer-text").press("Enter")
    await page_a.fill("#composer-text", "Can you show a fold in Python, then quiz us?")
    await page_a.click("#ask")

    card_b = page_b.locator(".quiz.card")
    await expect(card_b.locator(".question")).to_have_text(QUESTION)
    await card_b.get_by_role("button", name="24", exact=True).click()
    card_a = page_a.locator(".quiz.card")
    await expect(card_a.locator(".quiz-results")).to_contain_text("Ben ✓ correct")
    await card_a.get_by_role("button", name="10", exact=True).click()
    await expect(card_a.locator(".quiz-feedback")).to_contain_text("Not quite")
    await expect(card_a.locator("button.choice.wrong")).to_have_text("10")
    await expect(card_b.locator(".quiz-results li")).to_have_count(2)
    await expect(card_b.locator("button.choice:enabled")).to_have_count(0)
    await expect(page_b.locator(".note-progress")).to_have_count(2)
    await answer_html(page_a)
    # The passages the tutor looked up are named under its answer.
    await expect(page_a.locator(".msg.answer .source")).to_have_text("folds-notes.md")
    await page_a.click("#tab-progress")
    await expect(page_a.locator("#mastery svg")).to_be_visible()
    await page_a.click("#tab-materials")

    # The picture for the README: the question, the whole answer and the quiz below it.
    await page_a.eval_on_selector(
        ".msg.ask",
        "el => { el.scrollIntoView({ block: 'start' });"
        " el.closest('.timeline-scroll').scrollTop -= 8; }",
    )
    await page_a.screenshot(path=str(screenshots_dir / "room.png"))
    if os.environ.get("STUDYROOM_UPDATE_DOCS_IMAGES") == "1":
        README_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        await page_a.screenshot(path=str(README_IMAGE))


def _notes(directory: Path) -> Path:
    path = directory / "folds-notes.md"
    path.write_text("# Folds\n\nA fold reduces a list to one value.\n" * 20, encoding="utf-8")
    return path
