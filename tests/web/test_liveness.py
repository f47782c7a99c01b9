"""The page notices a connection that died without closing, and comes back by itself."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.web.helpers import PageOpener, chat_texts, room_path, study_room, wait_live

pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)

# The page's ping is answered within 5 s or the connection counts as lost; the wait is generous.
LOST_WAIT_MS = 20_000
BACK_WAIT_MS = 40_000


async def test_going_offline_turns_live_off_and_coming_back_resumes(
    make_server: Any, make_learner: Any, open_page: PageOpener
) -> None:
    server = await make_server()
    ada = await make_learner(server.base_url, "Ada")
    ben = await make_learner(server.base_url, "Ben")
    room = await study_room(ada, ben)
    page = await open_page(server.base_url, ada, room_path(room))
    await wait_live(page)
    conn = page.locator("#conn")

    async with ben.client.room(room.session_id) as sdk:
        await sdk.chat("before")
        await expect(page.locator("#timeline .msg.chat")).to_have_count(1)
        await page.context.set_offline(True)
        await expect(conn).not_to_have_class("conn conn-live", timeout=LOST_WAIT_MS)
        await expect(conn.locator(".conn-label")).to_have_text("Reconnecting…")

        # Written while offline: kept, and sent once the page is back.
        await page.fill("#composer-text", "written offline")
        await page.locator("#composer-text").press("Enter")
        await expect(page.locator("#timeline .msg.pending .status")).to_have_text("sending…")
        await sdk.chat("said meanwhile")

        await page.context.set_offline(False)
        await expect(conn).to_have_class("conn conn-live", timeout=BACK_WAIT_MS)
        await expect(page.locator("#timeline .msg.chat:not(.pending)")).to_have_count(3)
    assert await chat_texts(page) == ["before", "said meanwhile", "written offline"]
