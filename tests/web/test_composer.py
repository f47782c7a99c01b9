"""The composer says how much room is left and refuses what the server would drop."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.web.helpers import PageOpener, chat_texts, room_path, study_room, wait_live

pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


async def test_text_over_the_limit_is_counted_and_refused_not_cut(
    make_server: Any, make_learner: Any, open_page: PageOpener
) -> None:
    server = await make_server()
    ada = await make_learner(server.base_url, "Ada")
    ben = await make_learner(server.base_url, "Ben")
    room = await study_room(ada, ben)
    page = await open_page(server.base_url, ada, room_path(room))
    await wait_live(page)
    count = page.locator("#composer-count")
    box = page.locator("#composer-text")

    await box.fill("short")
    await expect(count).to_be_hidden()
    await box.fill("a" * 3500)
    await expect(count).to_have_text("3,500 / 4,000")

    # A paste of 5,000 stays whole in the box and is not sent.
    await box.fill("b" * 5000)
    await expect(count).to_have_text("5,000 / 4,000 · 1,000 too many")
    await expect(count).to_have_class("composer-count over")
    await box.press("Enter")
    await expect(page.locator("#composer-error")).to_have_text(
        "Not sent: the limit is 4,000 characters and this has 5,000."
        " Shorten it by 1,000, or split it in two."
    )
    assert len(await box.input_value()) == 5000
    await expect(page.locator("#timeline .msg")).to_have_count(0)

    await box.fill("c" * 4000)
    await expect(page.locator("#composer-error")).to_have_text("")
    await box.press("Enter")
    await expect(page.locator("#timeline .msg.chat:not(.pending)")).to_have_count(1)
    assert await chat_texts(page) == ["c" * 4000]
    await expect(count).to_be_hidden()
