"""The page and its files as the server serves them: types, caching, the security policy."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from protocol.errors import CLOSE_CODES, FINAL_CLOSE_CODES
from server.config import Settings
from server.web.routes import content_security_policy
from tests.fakes.tcp_relay import Relay

# Serving files does not depend on the storage engines.
EMBEDDED_ONLY = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


@EMBEDDED_ONLY
async def test_the_page_is_served_with_a_strict_policy_and_revalidation(server: Any) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-cache"
        assert page.headers["x-content-type-options"] == "nosniff"
        policy = page.headers["content-security-policy"]
        host = server.base_url.removeprefix("http://")
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert f"connect-src 'self' ws://{host} wss://{host}" in policy
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        # No inline script or style anywhere: everything the page runs is a file of ours.
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)
        assert "style=" not in page.text and "<style" not in page.text
        assert not re.search(r"(src|href)=\"(https?:)?//", page.text)

        again = await http.get("/", headers={"If-None-Match": page.headers["etag"]})
        assert again.status_code == 304 and again.content == b""


@EMBEDDED_ONLY
async def test_assets_have_their_types_and_unknown_names_are_not_found(server: Any) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for name, kind in [
            ("app.js", "text/javascript; charset=utf-8"),
            ("markdown.js", "text/javascript; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
            ("icon.svg", "image/svg+xml"),
        ]:
            answer = await http.get(f"/static/{name}")
            assert answer.status_code == 200, name
            assert answer.headers["content-type"] == kind
            assert answer.headers["cache-control"] == "no-cache" and answer.headers["etag"]
            cached = await http.get(
                f"/static/{name}", headers={"If-None-Match": answer.headers["etag"]}
            )
            assert cached.status_code == 304
        for missing in ("nope.js", "index.html", "..%2Fapp.py", "%2e%2e/routes.py"):
            assert (await http.get(f"/static/{missing}")).status_code == 404, missing
        # The page is no part of the API's description.
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert "/" not in paths and not any(p.startswith("/static") for p in paths)


@EMBEDDED_ONLY
async def test_a_hostile_host_header_is_not_echoed_into_the_policy(server: Any) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        page = await http.get("/", headers={"Host": "evil.example; script-src *"})
    policy = page.headers["content-security-policy"]
    assert "evil" not in policy and "script-src *" not in policy
    assert "connect-src 'self';" in policy


@EMBEDDED_ONLY
async def test_the_policy_names_the_relay_the_page_was_reached_through(server: Any) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    relay = Relay(("127.0.0.1", port))
    await relay.start()
    try:
        async with httpx.AsyncClient(base_url=relay.base_url) as http:
            policy = (await http.get("/")).headers["content-security-policy"]
            details_host = relay.base_url.removeprefix("http://")
            assert f"ws://{details_host}" in policy
    finally:
        await relay.stop()


def test_the_policy_allows_the_public_room_address_when_one_is_configured() -> None:
    settings = Settings(env="test", public_url="https://study.example/rooms")
    policy = content_security_policy(settings, "10.0.0.7:8000")
    connect = next(p for p in policy.split("; ") if p.startswith("connect-src"))
    assert connect.split() == [
        "connect-src",
        "'self'",
        "ws://10.0.0.7:8000",
        "wss://10.0.0.7:8000",
        "ws://study.example",
        "wss://study.example",
    ]


@EMBEDDED_ONLY
async def test_the_catalogue_module_is_served_from_the_protocol(server: Any) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        answer = await http.get("/static/catalogue.js")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
        assert answer.headers["cache-control"] == "no-cache" and answer.headers["etag"]
        cached = await http.get(
            "/static/catalogue.js", headers={"If-None-Match": answer.headers["etag"]}
        )
        assert cached.status_code == 304
        connection = (await http.get("/static/connection.js")).text
    source = answer.text
    final = json.dumps(sorted(code.value for code in FINAL_CLOSE_CODES), indent=2)
    assert f"export const FINAL_CLOSE_CODES = new Set({final});" in source
    for code, spec in CLOSE_CODES.items():
        assert (
            f'"{code.value}": {{' in source and f'"reconnect": "{spec.reconnect.value}"' in source
        )
    # The page has no copy of its own.
    assert 'from "./catalogue.js"' in connection
    assert "4401" not in connection and "4403" not in connection
