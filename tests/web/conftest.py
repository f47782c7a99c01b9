"""Browser tests of the page the server serves at ``/``: real Chromium, real server, real sockets.

Chromium is Debian's (``/usr/bin/chromium``, or ``STUDYROOM_TEST_CHROMIUM``). Without it these
tests are skipped, except in CI (``CI=true``), where they fail so a missing browser is never
silently green. Every page a test opened is photographed into
``test-artifacts/screenshots/`` when the test ends, and a script error or a Content Security
Policy violation on any page fails the test.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

from clients.sdk.models import User
from clients.sdk.rest import StudyroomClient
from tests.fakes.scripted_openai import ScriptedOpenAI
from tests.web.helpers import Learner, PageOpener

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = Path(os.environ.get("STUDYROOM_TEST_CHROMIUM", "/usr/bin/chromium"))
PASSWORD = "correct horse battery"
VIEWPORT = ViewportSize(width=1280, height=800)
TOKEN_KEY = "studyroom.token"

# Room for a busy machine (two cores shared with servers and other tests); waits end as soon as
# the page gets there, so this costs nothing when it is quick.
expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"CI needs Chromium for the browser tests; not found at {CHROMIUM}")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    # Chromium refuses to run its sandbox as root (containers, CI runners).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
def screenshots_dir(artifacts_dir: Path) -> Iterator[Path]:
    path = artifacts_dir / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    yield path


@pytest.fixture(scope="session")
def registered() -> dict[tuple[str, str], tuple[User, str]]:
    """Learners already signed up, by backend and name, with their access token.

    Signing up and logging in hash a password each (deliberately slow); tests share the same
    people instead, and everything else (topics, sessions) is made fresh per test.
    """
    return {}


@pytest.fixture
async def make_learner(
    backend: Any,
    registered: dict[tuple[str, str], tuple[User, str]],
    unique: Callable[[str], str],
) -> AsyncIterator[Callable[[str, str], Awaitable[Learner]]]:
    clients: list[StudyroomClient] = []

    async def make(base_url: str, name: str) -> Learner:
        client = StudyroomClient(base_url)
        clients.append(client)
        known = registered.get((backend.name, name))
        if known is not None:
            client.token = known[1]
            return Learner(client, known[0])
        username = unique(re.sub(r"[^a-z0-9]", "", name.lower())[:20] or "learner")
        user = await client.register(username, PASSWORD, display_name=name)
        registered[backend.name, name] = (user, await client.login(username, PASSWORD))
        return Learner(client, user)

    yield make
    for client in clients:
        await client.aclose()


@dataclass
class Watched:
    """A page and what went wrong on it: uncaught script errors and CSP violations."""

    page: Page
    problems: list[str] = field(default_factory=list)


@pytest.fixture
async def open_page(
    browser: Browser, request: pytest.FixtureRequest, screenshots_dir: Path
) -> AsyncIterator[PageOpener]:
    """Open the page in a fresh browser context, signed in as ``learner`` when given."""
    contexts: list[BrowserContext] = []
    watched: list[Watched] = []

    async def open_(base_url: str, learner: Learner | None = None, path: str = "/") -> Page:
        context = await browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        if learner is not None:
            # Only when empty, so logging out within the test sticks across reloads.
            await context.add_init_script(
                f"if (!localStorage.getItem({json.dumps(TOKEN_KEY)}))"
                f" localStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(learner.token)});"
            )
        page = await context.new_page()
        item = Watched(page)
        watched.append(item)
        page.on("pageerror", lambda error: item.problems.append(f"script error: {error}"))
        page.on(
            "console",
            lambda message: (
                item.problems.append(f"console: {message.text}")
                if "Content Security Policy" in message.text
                else None
            ),
        )
        await page.goto(base_url + path)
        return page

    yield open_
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    for index, item in enumerate(watched):
        if not item.page.is_closed():
            await item.page.screenshot(path=str(screenshots_dir / f"{stem}-{index + 1}.png"))
    for context in contexts:
        await context.close()
    problems = [p for item in watched for p in item.problems]
    assert not problems, problems


@pytest.fixture
async def scripted_model() -> AsyncIterator[ScriptedOpenAI]:
    async with ScriptedOpenAI() as scripted:
        yield scripted


@pytest.fixture
def tutor_settings(
    scripted_model: ScriptedOpenAI, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Server settings whose tutor streams from the scripted model."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", scripted_model.base_url)
    return {
        "tutor_provider": "openai",
        "tutor_model": "scripted",
        "tutor_max_retries": 0,
        "tutor_first_token_timeout_s": 5.0,
        "tutor_idle_timeout_s": 5.0,
    }
