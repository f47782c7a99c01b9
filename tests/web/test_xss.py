"""Markup in anything people or the model write is shown as text, never run or rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.fakes.scripted_openai import Script, ScriptedOpenAI
from tests.web.helpers import PageOpener, room_path, study_room, wait_live

IMG = '<img src=x onerror="window.pwned = (window.pwned || 0) + 1">'
SCRIPT = "<script>window.pwned = (window.pwned || 0) + 1</script>"
HOSTILE_LINK = "[click me](javascript:window.pwned=1)"
ATTRIBUTE_BREAKOUT = '[x](https://example.com/"onmouseover="window.pwned=1)'

# The page does not depend on the storage engines; the room tests that do run on both.
pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


async def test_markup_in_chat_answers_names_and_filenames_stays_text(
    make_server: Any,
    tutor_settings: dict[str, Any],
    scripted_model: ScriptedOpenAI,
    make_learner: Any,
    open_page: PageOpener,
    tmp_path: Path,
) -> None:
    answer = f"Here you go: {IMG}\n\n{SCRIPT}\n\n- {HOSTILE_LINK}\n- {ATTRIBUTE_BREAKOUT}"
    scripted_model.enqueue(Script.tokens(answer, per_token_delay=0.002))
    server = await make_server(**tutor_settings)
    owner = await make_learner(server.base_url, "Ada")
    mallory = await make_learner(server.base_url, f"Mal {IMG}")
    room = await study_room(owner, mallory)
    upload = tmp_path / "notes.md"
    upload.write_text("# Notes\n\nNothing to see.\n", encoding="utf-8")
    await owner.client.upload(room.topic_id, upload, filename=f"{IMG}.md")
    page = await open_page(server.base_url, owner, room_path(room))
    await wait_live(page)

    async with mallory.client.room(room.session_id) as sdk_room:
        await sdk_room.chat(f"hi {IMG} {SCRIPT}")
        await sdk_room.chat(f"{HOSTILE_LINK} and {ATTRIBUTE_BREAKOUT}")
        await sdk_room.ask(f"{SCRIPT} explain?")
        await page.wait_for_selector(".msg.answer .answer-body[aria-busy=false]")

    chats = page.locator("#timeline .msg.chat .body")
    await expect(chats.nth(0)).to_have_text(f"hi {IMG} {SCRIPT}")
    await expect(page.locator("#timeline .msg.ask .body")).to_have_text(f"{SCRIPT} explain?")
    answer_body = page.locator(".msg.answer .answer-body")
    await expect(answer_body).to_contain_text(IMG)
    await expect(answer_body).to_contain_text(SCRIPT)
    await expect(page.locator("#members")).to_contain_text(f"Mal {IMG}")
    await expect(page.locator("#materials .filename")).to_contain_text("onerror")

    # Nothing became an element: no images, scripts, or handlers anywhere; the only links are
    # the http(s) one, with its quote escaped inside the address.
    assert await page.locator("main img, main script").count() == 0
    assert await page.locator("[onerror], [onmouseover]").count() == 0
    hrefs = await page.eval_on_selector_all("#timeline a", "as => as.map(a => a.href)")
    assert hrefs and all(h.startswith("https://example.com/") for h in hrefs), hrefs
    rels = await page.eval_on_selector_all("#timeline a", "as => as.map(a => a.rel)")
    assert set(rels) == {"noopener noreferrer"}
    assert await page.evaluate("window.pwned") is None
