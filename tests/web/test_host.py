"""Hosts run the room from the page: settings, join code, roles, removals; members see it live."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Dialog, Page, Request, WebSocket, expect

from tests.fakes.scripted_openai import Script, ScriptedOpenAI
from tests.web.helpers import PageOpener, Room, chat_texts, room_path, study_room, wait_live

# The page does not depend on the storage engines; the server's tests cover both.
pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)

DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "host.png"

# A direct call of a host-only route with the page's own token: status and error code.
PATCH_AS_PAGE = """async id => {
  const response = await fetch(`/api/sessions/${id}`, {
    method: "PATCH",
    headers: {
      Authorization: `Bearer ${localStorage.getItem("studyroom.token")}`,
      "Content-Type": "application/json",
    },
    body: JSON.stringify({ tutor_mode: "explain" }),
  });
  return { status: response.status, code: (await response.json()).code };
}"""


async def host_and_member(
    server: Any, make_learner: Any, open_page: PageOpener
) -> tuple[Room, Page, Page]:
    ada = await make_learner(server.base_url, "Ada")
    ben = await make_learner(server.base_url, "Ben")
    room = await study_room(ada, ben)
    host = await open_page(server.base_url, ada, room_path(room))
    member = await open_page(server.base_url, ben, room_path(room))
    await wait_live(host, members=2)
    await wait_live(member, members=2)
    return room, host, member


def accept_dialogs(page: Page) -> list[str]:
    """Confirms every dialog the page opens; returns their messages as they come."""
    messages: list[str] = []

    async def accept(dialog: Dialog) -> None:
        messages.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    return messages


def member_item(page: Page, name: str) -> Any:
    return page.locator("#members .member", has=page.locator(".member-name", has_text=name))


async def test_a_hosts_changes_reach_every_member_live(
    make_server: Any, make_learner: Any, open_page: PageOpener
) -> None:
    server = await make_server()
    room, host, member = await host_and_member(server, make_learner, open_page)
    await expect(host.locator("#host-controls")).to_be_visible()
    await expect(member_item(host, "Ada").locator(".role-badge")).to_have_text("host")
    await expect(member_item(host, "Ben").locator(".member-actions button")).to_have_text(
        ["make host", "remove"]
    )
    await expect(member_item(host, "Ada").locator(".member-actions")).to_have_count(0)

    # A member has none of the controls, and the server refuses the call the page would make.
    await expect(member.locator("#host-controls")).to_be_hidden()
    await expect(member.locator("#members .member-actions")).to_have_count(0)
    await expect(member.locator("#leave-session")).to_be_visible()
    await expect(host.locator("#leave-session")).to_be_hidden()
    refused = await member.evaluate(PATCH_AS_PAGE, room.session_id)
    assert refused == {"status": 403, "code": "forbidden"}

    await host.fill("#rename-title", "Folds, week 2")
    await host.click("#rename-form button[type=submit]")
    for page in (host, member):
        await expect(page.locator("#room-title")).to_have_text("Folds, week 2")
    await expect(member.locator("#timeline .note-settings").last).to_contain_text("Folds, week 2")

    await expect(member.locator("#ask")).to_have_text("Ask tutor")
    await host.select_option("#tutor-mode", "off")
    for page in (host, member):
        await expect(page.locator("#ask")).to_have_text("Tutor is off")
        await expect(page.locator("#ask")).to_be_disabled()
        await expect(page.locator("#room-tutor-mode")).to_have_text("Tutor off")

    await host.click("#lock-session")
    await expect(host.locator("#lock-session")).to_have_text("Unlock")
    await expect(member.locator("#room-locked")).to_be_visible()

    old_code = room.join_code
    await host.click("#rotate-code")
    await expect(host.locator("#room-code")).not_to_have_text(old_code)
    new_code = await host.locator("#room-code").text_content()
    assert new_code and len(new_code) == len(old_code)
    await expect(host.locator("#toasts")).to_contain_text(f"New join code: {new_code}")
    # The room hears of it: the member's page shows the new code without reading the session.
    await expect(member.locator("#room-code")).to_have_text(new_code)
    await expect(member.locator("#timeline .note-settings").last).to_contain_text(
        "A host gave the session a new join code"
    )

    # Back to teaching, unlocked: the member's ask button comes back.
    await host.select_option("#tutor-mode", "socratic")
    await host.click("#lock-session")
    await expect(member.locator("#ask")).to_have_text("Ask tutor")
    await expect(member.locator("#ask")).to_be_enabled()
    await expect(member.locator("#room-locked")).to_be_hidden()

    # The picture for the docs: a host's view with its controls and both members.
    for page, text in (
        (member, "Shall we go through foldr next?"),
        (host, "Yes, then quiz each other."),
    ):
        await page.fill("#composer-text", text)
        await page.locator("#composer-text").press("Enter")
        await expect(host.locator("#timeline .msg.chat:not(.pending)").last).to_contain_text(text)
    await host.locator("#composer-text").blur()
    if os.environ.get("STUDYROOM_UPDATE_DOCS_IMAGES") == "1":
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        await host.screenshot(path=str(DOCS_IMAGE))


async def test_a_removed_member_is_told_and_does_not_reconnect(
    make_server: Any, make_learner: Any, open_page: PageOpener
) -> None:
    server = await make_server()
    _, host, member = await host_and_member(server, make_learner, open_page)
    sockets: list[WebSocket] = []
    details: list[Request] = []
    member.on("websocket", lambda ws: sockets.append(ws))
    member.on(
        "request",
        lambda request: details.append(request) if "connection-details" in request.url else None,
    )
    confirmed = accept_dialogs(host)

    await host.get_by_role("button", name="Remove Ben from the session").click()
    notice = member.locator("#room-notice")
    await expect(notice).to_contain_text("A host removed you from this session")
    await expect(member.locator("#composer-text")).to_be_disabled()
    await expect(member.locator("#conn")).to_be_hidden()
    await expect(member.locator("#members .presence")).to_have_count(0)
    assert confirmed and "Remove Ben" in confirmed[0]

    await expect(host.locator("#members .member")).to_have_count(1)
    await expect(host.locator("#timeline")).to_contain_text("Ben is no longer in the session")
    # Longer than the page's first reconnect back-off: nothing is tried again.
    await member.wait_for_timeout(2500)
    assert sockets == [] and details == []
    await expect(host.locator("#timeline .note-presence", has_text="Ben left")).to_have_count(0)

    # Coming back is refused: the page says so and shows the lobby.
    await member.reload()
    await expect(member.locator("#view-lobby")).to_be_visible()
    await expect(member.locator("#toasts")).to_contain_text("not one of yours")


async def test_a_member_made_host_gets_the_controls_and_may_leave(
    make_server: Any, make_learner: Any, open_page: PageOpener
) -> None:
    server = await make_server()
    _, host, member = await host_and_member(server, make_learner, open_page)
    await host.get_by_role("button", name="Make Ben a host").click()
    await expect(member_item(host, "Ben").locator(".role-badge")).to_have_text("host")
    # The room's member.role reaches Ben's page at once: the controls appear, no reload.
    await expect(member.locator("#host-controls")).to_be_visible()
    await expect(member.locator("#timeline .note-settings").last).to_contain_text(
        "Ben is now a host"
    )
    await expect(member_item(member, "Ben").locator(".role-badge")).to_have_text("host")
    # The creator stays a host whatever other hosts do: nothing to offer on them.
    await expect(member_item(member, "Ada").locator(".member-actions")).to_have_count(0)

    await member.fill("#rename-title", "Run by Ben")
    await member.click("#rename-form button[type=submit]")
    await expect(host.locator("#room-title")).to_have_text("Run by Ben")

    accept_dialogs(member)
    await member.click("#leave-session")
    await expect(member.locator("#view-lobby")).to_be_visible()
    await expect(member.locator("#toasts")).to_contain_text("You left “Run by Ben”")
    await expect(host.locator("#members .member")).to_have_count(1)


async def test_members_stop_only_the_answers_to_their_own_questions(
    make_server: Any,
    tutor_settings: dict[str, Any],
    scripted_model: ScriptedOpenAI,
    make_learner: Any,
    open_page: PageOpener,
) -> None:
    long_answer = "Recursion is a function calling itself on a smaller problem. " * 40
    scripted_model.enqueue(
        Script.tokens(long_answer, per_token_delay=0.03),
        Script.tokens(long_answer, per_token_delay=0.03),
    )
    server = await make_server(**tutor_settings)
    _, host, member = await host_and_member(server, make_learner, open_page)

    await host.fill("#composer-text", "Explain recursion")
    await host.click("#ask")
    first = member.locator(".msg.answer").nth(0)
    await expect(first.locator(".answer-body")).to_contain_text("Recursion is")
    await expect(host.locator("#stop")).to_be_visible()
    await expect(member.locator("#stop")).to_be_hidden()
    await host.click("#stop")
    await expect(first.locator(".status")).to_have_text("stopped")

    await member.fill("#composer-text", "And tail recursion?")
    await member.click("#ask")
    second = host.locator(".msg.answer").nth(1)
    await expect(second.locator(".answer-body")).to_contain_text("Recursion is")
    await expect(member.locator("#stop")).to_be_visible()
    await member.click("#stop")
    for page in (host, member):
        await expect(page.locator(".msg.answer").nth(1).locator(".status")).to_have_text("stopped")
        await expect(page.locator("#stop")).to_be_hidden()
    assert await chat_texts(member) == []
