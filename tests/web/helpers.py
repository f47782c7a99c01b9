"""What the browser tests share besides fixtures: learners, rooms and reading the page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from playwright.async_api import Page

from clients.sdk.models import User
from clients.sdk.rest import StudyroomClient

# open_page(base_url, learner=None, path="/") -> Page, from the fixture of that name.
PageOpener = Callable[..., Awaitable[Page]]


@dataclass
class Learner:
    """A registered, logged-in user with an SDK client (its REST token is the page's too)."""

    client: StudyroomClient
    user: User

    @property
    def token(self) -> str:
        assert self.client.token is not None
        return self.client.token

    @property
    def name(self) -> str:
        return self.user.display_name


@dataclass
class Room:
    owner: Learner
    guest: Learner
    session_id: int
    topic_id: int
    join_code: str


async def study_room(owner: Learner, guest: Learner, title: str = "Functional programming") -> Room:
    """A topic of ``owner``'s, a session on it, and ``guest`` joined by its code."""
    topic = await owner.client.create_topic(title, "Pure functions, folds and recursion")
    session = await owner.client.create_session(topic.id)
    await guest.client.join(session.join_code)
    return Room(owner, guest, session.id, topic.id, session.join_code)


def room_path(room: Room) -> str:
    return f"/#/session/{room.session_id}"


async def wait_live(page: Page, members: int | None = None) -> None:
    """Until the room socket is live (and shows ``members`` people in the room)."""
    await page.wait_for_selector("#conn.conn-live", state="attached")
    if members is not None:
        await page.wait_for_function(
            "n => document.querySelectorAll('#members .member.online').length === n", arg=members
        )


async def chat_texts(page: Page) -> list[str]:
    texts: list[str] = await page.eval_on_selector_all(
        "#timeline .msg.chat:not(.pending) .body", "els => els.map(e => e.textContent)"
    )
    return texts


async def rendered(page: Page, markdown: str) -> str:
    """``markdown`` as the page's own renderer turns it into HTML."""
    html: str = await page.evaluate(
        "async text => (await import('/static/markdown.js')).renderMarkdown(text)", markdown
    )
    return html
