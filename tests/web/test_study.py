"""The room's study tools and session controls: goals, progress, report, topic, ending."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest
from playwright.async_api import Dialog, expect

from tests.web.helpers import PageOpener, room_path, study_room, wait_live

# The page does not depend on the storage engines; the room tests that do run on both.
pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


async def test_goals_progress_report_topic_switch_and_end(
    make_server: Any, make_learner: Any, open_page: PageOpener
) -> None:
    server = await make_server()
    ada = await make_learner(server.base_url, "Ada")
    ben = await make_learner(server.base_url, "Ben")
    room = await study_room(ada, ben)
    await ada.client.create_topic("Category theory", "Functors and monads")
    page_a = await open_page(server.base_url, ada, room_path(room))
    page_b = await open_page(server.base_url, ben, room_path(room))
    await wait_live(page_a, members=2)
    await wait_live(page_b, members=2)

    await page_a.click("#tab-goals")
    await page_a.fill("#goal-title", "Ask three questions")
    await page_a.select_option("#goal-metric", "questions_asked")
    await page_a.fill("#goal-target", "3")
    await page_a.fill("#goal-due", "2030-01-31")
    await page_a.click("#goal-form button[type=submit]")
    goal = page_a.locator("#goals .goal", has_text="Ask three questions")
    # A goal counts from when it was set, and says so.
    await expect(goal).to_contain_text("Questions asked: 0 of 3 (0%) · since ")
    await expect(goal).to_contain_text(" · due 2030-01-31")
    await expect(goal.locator("time.goal-since")).to_have_attribute(
        "title", "Only what was done from then on counts"
    )
    await expect(goal.locator("progress")).to_have_attribute("value", "0")

    # Or from the start of a chosen day, so that what was done this morning counts too.
    today = date.today()
    await page_a.fill("#goal-title", "Study today")
    await page_a.fill("#goal-target", "30")
    await page_a.fill("#goal-since", today.isoformat())
    await page_a.click("#goal-form button[type=submit]")
    await expect(page_a.locator("#goals .goal", has_text="Study today")).to_be_visible()
    await expect(page_a.locator("#goal-since")).to_have_value("")
    (counted,) = [g for g in await ada.client.goals() if g.title == "Study today"]
    assert counted.since is not None
    since = counted.since.astimezone()
    assert (since.date(), since.time()) == (today, time(0))

    # Tabs follow the arrow keys, as a tab list should.
    await page_a.focus("#tab-goals")
    await page_a.keyboard.press("ArrowRight")
    await expect(page_a.locator("#tab-progress")).to_have_attribute("aria-selected", "true")
    await expect(page_a.locator("#history svg.chart")).to_be_visible()
    await page_a.click("#tab-report")
    await expect(page_a.locator("#report")).to_contain_text("Participants")

    await page_a.select_option("#topic-select", label="Category theory")
    await page_a.click("#topic-switch button[type=submit]")
    for page in (page_a, page_b):
        await expect(page.locator("#room-topic")).to_contain_text("Category theory")
        await expect(page.locator(".note-topic")).to_contain_text(
            "Topic changed to “Category theory”"
        )
    await expect(page_b.locator("#topic-switch")).to_be_hidden()

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page_a.on("dialog", accept)
    await page_a.click("#end-session")
    for page in (page_a, page_b):
        await expect(page.locator("#room-notice")).to_contain_text("This session has ended")
        await expect(page.locator("#composer-text")).to_be_disabled()
        await expect(page.locator("#conn")).to_be_hidden()
    await expect(page_b.locator(".note-ended")).to_have_count(1)

    # An ended session still opens, read-only, with its conversation.
    await page_b.reload()
    await expect(page_b.locator("#room-notice")).to_contain_text("This session has ended")
    await expect(page_b.locator(".note-topic")).to_have_count(1)
    await expect(page_b.locator("#composer-text")).to_be_disabled()
