"""The page reads a busy server's retry hint exactly as the protocol does: connection.js's
``retryAfterMs`` against ``protocol.errors.retry_after_ms``, run in the browser."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page

from protocol.errors import retry_after_ms
from tests.web.helpers import PageOpener

CASES = [
    (1013, "busy; retry_after_ms=250"),
    (1013, "retry_after_ms=0"),
    (1013, "busy; retry_after_ms=7 ; region=eu"),
    (1013, "busy;retry_after_ms=12"),
    (1013, "busy; retry_after_ms=999999999"),
    (1013, "live state is unavailable"),
    (1013, ""),
    (1013, "busy; retry_after_ms=-5"),
    (1013, "busy; retry_after_ms=2.5"),
    (1013, "busy; retry_after_ms=1234567890"),
    (1013, "busy; xretry_after_ms=250"),
    (1012, "busy; retry_after_ms=250"),
    (4008, "retry_after_ms=250"),
    (1006, "retry_after_ms=250"),
]

pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


async def test_the_page_reads_the_hint_as_the_protocol_does(
    server: Any, open_page: PageOpener
) -> None:
    page: Page = await open_page(server.base_url)
    read = await page.evaluate(
        """async cases => {
          const { retryAfterMs } = await import('/static/connection.js');
          return cases.map(([code, reason]) => retryAfterMs(code, reason));
        }""",
        [list(case) for case in CASES],
    )
    assert read == [retry_after_ms(code, reason) for code, reason in CASES]
    assert read[0] == 250  # the table holds hints that are read, not only refusals
