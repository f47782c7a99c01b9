"""A page whose connection drops catches up by itself: every event once, in order, no reload.

The page is loaded through a TCP relay (so its origin is the relay's, as behind a proxy); the
relay is cut while another member keeps talking over the SDK, straight to the server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page, Route, WebSocket, expect

from protocol.errors import FINAL_CLOSE_CODES, CloseCode
from tests.fakes.scripted_openai import Script, ScriptedOpenAI
from tests.fakes.tcp_relay import Relay
from tests.web.helpers import PageOpener, chat_texts, rendered, room_path, study_room, wait_live

ANSWER = (
    "Tail recursion keeps no work pending after the call:\n\n"
    "- the last thing a function does is call itself,\n"
    "- so the stack frame can be reused,\n"
    "- and `loop(n - 1, acc * n)` runs in constant space.\n\n"
    "```python\ndef fact(n, acc=1):\n    return acc if n == 0 else fact(n - 1, acc * n)\n```"
)


@pytest.fixture
async def relay_to() -> AsyncIterator[Any]:
    """Relays to servers; ask for it before ``open_page`` so pages are photographed first."""
    relays: list[Relay] = []

    async def start(server: Any) -> Relay:
        relay = Relay(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
        await relay.start()
        relays.append(relay)
        return relay

    yield start
    for relay in relays:
        await relay.stop()


def record_welcomes(page: Page) -> list[dict[str, Any]]:
    """Every ``welcome`` the page receives on sockets it opens from now on."""
    welcomes: list[dict[str, Any]] = []

    def frame(payload: str | bytes) -> None:
        if isinstance(payload, str) and payload.startswith('{"type":"welcome"'):
            welcomes.append(json.loads(payload))

    def opened(ws: WebSocket) -> None:
        ws.on("framereceived", frame)

    page.on("websocket", opened)
    return welcomes


async def until(room: Any, predicate: Any) -> None:
    async for delivery in room:
        if delivery.seq is not None and predicate(delivery.data):
            return


async def test_a_dropped_connection_resumes_from_the_live_log(
    make_server: Any, make_learner: Any, relay_to: Any, open_page: PageOpener
) -> None:
    server = await make_server()
    ada = await make_learner(server.base_url, "Ada")
    ben = await make_learner(server.base_url, "Ben")
    room = await study_room(ada, ben)
    relay = await relay_to(server)
    page = await open_page(relay.base_url, ada, room_path(room))
    await wait_live(page)
    welcomes = record_welcomes(page)

    async with ben.client.room(room.session_id) as sdk:
        await sdk.chat("m1")
        await expect(page.locator("#timeline .msg.chat")).to_have_count(1)
        relay.cut()
        await expect(page.locator("#conn")).to_have_class("conn conn-reconnecting")
        for n in range(2, 8):
            await sdk.chat(f"m{n}")
        await until(sdk, lambda e: e.get("text") == "m7")
        relay.restore()
        await expect(page.locator("#conn")).to_have_class("conn conn-live")
        await expect(page.locator("#timeline .msg.chat")).to_have_count(7)
        assert await chat_texts(page) == [f"m{n}" for n in range(1, 8)]

        # The page's own messages flow again, once each.
        await page.fill("#composer-text", "back again")
        await page.locator("#composer-text").press("Enter")
        await until(sdk, lambda e: e.get("text") == "back again")
    await expect(page.locator("#timeline .msg.chat:not(.pending)")).to_have_count(8)
    assert await chat_texts(page) == [*(f"m{n}" for n in range(1, 8)), "back again"]
    assert [w["resumed"] for w in welcomes] == [True]
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1


async def test_past_the_retained_log_the_page_reloads_the_gap_from_the_transcript(
    make_server: Any,
    tutor_settings: dict[str, Any],
    scripted_model: ScriptedOpenAI,
    make_learner: Any,
    relay_to: Any,
    open_page: PageOpener,
) -> None:
    scripted_model.enqueue(Script.tokens(ANSWER, per_token_delay=0.03))
    server = await make_server(room_log_retention=10, **tutor_settings)
    ada = await make_learner(server.base_url, "Ada")
    ben = await make_learner(server.base_url, "Ben")
    room = await study_room(ada, ben)
    relay = await relay_to(server)
    page = await open_page(relay.base_url, ada, room_path(room))
    await wait_live(page)
    welcomes = record_welcomes(page)

    async with ben.client.room(room.session_id) as sdk:
        await sdk.ask("Why is tail recursion cheap?")
        # Cut while the answer is half-way: the page has some deltas and misses the rest.
        await expect(page.locator(".msg.answer .answer-body")).to_contain_text("Tail")
        relay.cut()
        for n in range(1, 13):
            await sdk.chat(f"m{n}")
        await until(sdk, lambda e: e.get("text") == "m12")
        relay.restore()
        await expect(page.locator("#conn")).to_have_class("conn conn-live")
        await expect(page.locator("#timeline .msg.chat")).to_have_count(12)
        assert await chat_texts(page) == [f"m{n}" for n in range(1, 13)]
        await page.wait_for_selector(".msg.answer .answer-body[aria-busy=false]")

    assert [w["resumed"] for w in welcomes] == [False]
    assert await page.inner_html(".msg.answer .answer-body") == await rendered(page, ANSWER)
    await expect(page.locator(".msg.answer")).to_have_count(1)
    await expect(page.locator(".msg.ask")).to_have_count(1)


async def test_a_refused_token_is_followed_by_new_connection_details(
    make_server: Any, make_learner: Any, open_page: PageOpener
) -> None:
    server = await make_server()
    ada = await make_learner(server.base_url, "Ada")
    ben = await make_learner(server.base_url, "Ben")
    room = await study_room(ada, ben)
    page = await open_page(server.base_url, ada)
    issued: list[str] = []

    async def spoil_the_first_token(route: Route) -> None:
        answer = await route.fetch()
        details = await answer.json()
        issued.append(details["participant_token"])
        if len(issued) == 1:
            details["participant_token"] = "not-a-token"
        await route.fulfill(response=answer, json=details)

    await page.route("**/api/connection-details", spoil_the_first_token)
    await page.goto(server.base_url + room_path(room))
    # The server closes the first socket with 4401; its policy is to fetch new details. (Under
    # a loaded machine the page may reconnect once more on its own, again with new details.)
    await wait_live(page)
    assert len(issued) >= 2
    final = await page.evaluate(
        "import('/static/catalogue.js').then((m) => [...m.FINAL_CLOSE_CODES].sort())"
    )
    assert final == sorted(code.value for code in FINAL_CLOSE_CODES)
    assert CloseCode.UNAUTHORIZED.value not in final
