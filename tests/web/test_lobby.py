"""Signing up, choosing a topic and opening a room, all through the page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.web.helpers import Learner, PageOpener, chat_texts, wait_live

# The page does not depend on the storage engines; the room tests that do run on both.
pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


async def test_sign_up_create_a_topic_start_and_resume_a_session(
    server: Any, open_page: PageOpener, unique: Any
) -> None:
    page = await open_page(server.base_url)
    await expect(page.locator("#view-auth")).to_be_visible()
    username = unique("ada")
    await page.fill("#register-username", username)
    await page.fill("#register-name", "Ada <b>L</b>")
    await page.fill("#register-password", "short")
    await page.click("#register-form button[type=submit]")
    await expect(page.locator("#register-password-error")).to_contain_text("at least 8 characters")
    await page.fill("#register-password", "correct horse battery")
    await page.click("#register-form button[type=submit]")

    await expect(page.locator("#view-lobby")).to_be_visible()
    # A name is text, never markup.
    await expect(page.locator("#whoami")).to_have_text("Ada <b>L</b>")
    await page.fill("#topic-title", "Linear algebra")
    await page.fill("#topic-description", "Vectors, matrices, eigenvalues")
    await page.click("#topic-form button[type=submit]")
    topic = page.locator("#topics .topic", has_text="Linear algebra")
    await expect(topic).to_be_visible()
    await topic.get_by_role("button", name="Start a session on Linear algebra").click()

    await expect(page.locator("#view-room")).to_be_visible()
    await wait_live(page, members=1)
    await expect(page.locator("#room-title")).to_have_text("Linear algebra")
    await expect(page.locator("#members")).to_contain_text("Ada <b>L</b> (you)")
    code = await page.locator("#room-code").text_content()
    assert code and len(code) == 8

    # Back in the lobby the session is offered to resume; a wrong code is refused clearly.
    await page.click(".back")
    await expect(page.locator("#current-session")).to_contain_text(code)
    await page.fill("#join-code", "NOPE1234")
    await page.click("#join-form button[type=submit]")
    await expect(page.locator("#join-error")).to_have_text("No session has this code.")
    await page.click("#current-session button")
    await wait_live(page, members=1)
    # The second visit of a room has one set of handlers, not one per visit: each message is
    # sent once (a duplicate would arrive before the next message, which is awaited).
    for text in ("hello again", "bye"):
        await page.fill("#composer-text", text)
        await page.locator("#composer-text").press("Enter")
    await expect(page.locator("#timeline .msg.chat:not(.pending) .body").last).to_have_text("bye")
    assert await chat_texts(page) == ["hello again", "bye"]

    # Logging out returns to the sign-in view and forgets the token.
    await page.click("#logout")
    await expect(page.locator("#view-auth")).to_be_visible()
    assert await page.evaluate("localStorage.getItem('studyroom.token')") is None


async def test_a_rejected_token_returns_to_the_login_view(
    server: Any, open_page: PageOpener, make_learner: Any
) -> None:
    learner: Learner = await make_learner(server.base_url, "Grace")
    page = await open_page(server.base_url, learner)
    await expect(page.locator("#view-lobby")).to_be_visible()
    await page.evaluate("localStorage.setItem('studyroom.token', 'not-a-token')")
    await page.reload()
    await expect(page.locator("#view-auth")).to_be_visible()
    await page.fill("#login-username", learner.user.username)
    await page.fill("#login-password", "wrong password")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    await page.fill("#login-password", "correct horse battery")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#whoami")).to_have_text("Grace")


async def test_the_lobby_lists_sessions_and_topics_can_be_renamed_and_deleted(
    server: Any, make_learner: Any, open_page: PageOpener, tmp_path: Any
) -> None:
    # Her own learner: the list below is every session she is in, so none from other tests.
    ada: Learner = await make_learner(server.base_url, "Ada Lister")
    topic = await ada.client.create_topic("Graphs")
    old = await ada.client.create_session(topic.id, "First look")
    await ada.client.end_session(old.id)
    new = await ada.client.create_session(topic.id, "Second look")
    notes = tmp_path / "graphs.md"
    notes.write_bytes("# Graphs\n\nVertices and edges. é\n".encode())
    await ada.client.upload(topic.id, notes)
    page = await open_page(server.base_url, ada)
    await expect(page.locator("#view-lobby")).to_be_visible()
    rows = page.locator("#sessions .session")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("Second look")
    await expect(rows.nth(1)).to_contain_text("ended")

    # A material downloads as uploaded, from the room's materials list.
    await rows.first.get_by_role("button", name="Enter").click()
    await wait_live(page, members=1)
    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Download graphs.md").click()
    download = await downloading.value
    assert download.suggested_filename == "graphs.md"
    assert (await download.path()).read_bytes() == notes.read_bytes()

    await page.click(".back")
    page.once("dialog", lambda dialog: dialog.accept("Graph theory"))
    await page.get_by_role("button", name="Rename Graphs").click()
    await expect(page.locator("#topics .topic")).to_contain_text("Graph theory")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete Graph theory").click()
    await expect(page.locator("#topics .empty")).to_be_visible()
    # Its sessions stay, to be opened again.
    await expect(rows).to_have_count(2)
    assert [s.topic_id for s in await ada.client.sessions()] == [None, None]
    assert new.id in [s.id for s in await ada.client.sessions()]


async def test_the_sign_up_form_shows_every_problem_at_once(
    server: Any, open_page: PageOpener, make_learner: Any, unique: Any
) -> None:
    taken: Learner = await make_learner(server.base_url, "Grace")
    page = await open_page(server.base_url)
    submit = page.locator("#register-form button[type=submit]")
    await page.fill("#register-username", "no")
    await page.fill("#register-name", "x" * 101)
    await page.fill("#register-password", "short")
    await submit.click()
    await expect(page.locator("#register-username-error")).to_have_text(
        "The username needs 3 to 64 characters."
    )
    await expect(page.locator("#register-name-error")).to_have_text(
        "The display name can have up to 100 characters."
    )
    await expect(page.locator("#register-password-error")).to_have_text(
        "The password needs at least 8 characters."
    )
    await expect(page.locator("#register-error")).to_have_text("Fix the 3 problems above.")
    for field in ("#register-username", "#register-name", "#register-password"):
        await expect(page.locator(field)).to_have_attribute("aria-invalid", "true")

    # Fixed fields lose their message; what is still wrong keeps it.
    await page.fill("#register-username", "no spaces!")
    await page.fill("#register-name", "Ada")
    await submit.click()
    await expect(page.locator("#register-username-error")).to_have_text(
        "The username may only have letters, digits, dots, dashes and underscores."
    )
    await expect(page.locator("#register-name-error")).to_have_text("")
    await expect(page.locator("#register-name")).not_to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#register-error")).to_have_text("Fix the 2 problems above.")

    # What only the server can tell lands on its field: a taken name, a refused character.
    await page.fill("#register-username", taken.user.username)
    await page.fill("#register-password", "correct horse battery")
    await submit.click()
    await expect(page.locator("#register-username-error")).to_have_text(
        "That username is taken; pick another."
    )
    await page.fill("#register-username", unique("ada"))
    await page.fill("#register-name", "Ada\u0000")
    await submit.click()
    await expect(page.locator("#register-name-error")).to_contain_text("NUL")
    await expect(page.locator("#register-username-error")).to_have_text("")
    await expect(page.locator("#view-auth")).to_be_visible()


async def test_a_lobby_visit_without_a_session_logs_no_error(
    server: Any, open_page: PageOpener, make_learner: Any
) -> None:
    learner: Learner = await make_learner(server.base_url, "Lobby Visitor")
    page = await open_page(server.base_url)
    errors: list[str] = []
    asked: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: asked.append(r.url) if "/api/" in r.url else None)
    await page.evaluate("token => localStorage.setItem('studyroom.token', token)", learner.token)
    await page.reload()
    await expect(page.locator("#view-lobby")).to_be_visible()
    await expect(page.locator("#current-session")).to_contain_text("No session in progress")
    await expect(page.locator("#sessions")).to_contain_text("No sessions yet.")
    await expect(page.locator("#lobby-history svg, #lobby-history p")).not_to_have_count(0)
    assert errors == []
    assert not [url for url in asked if "/api/sessions/current" in url]

    # With a session in progress, the same card offers it.
    topic = await learner.client.create_topic("Logic")
    session = await learner.client.create_session(topic.id)
    await page.reload()
    await expect(page.locator("#current-session")).to_contain_text(session.join_code)
    assert errors == []
