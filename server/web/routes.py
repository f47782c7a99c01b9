"""Serving the browser page: ``GET /`` and its assets under ``/static/``.

The files are read once when the application is built and answered from memory with a strong
``ETag``. Nothing is content-hashed, so every response says ``no-cache``: browsers keep a copy
but revalidate it, and an unchanged file costs a 304 without a body.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request, Response, status

from server.config import Settings
from server.web import catalogue

STATIC_DIR = Path(__file__).parent / "static"
INDEX = "index.html"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

# A Host header is client-chosen; only a plain host[:port] may be echoed into the policy.
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")

_COMMON_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _asset(body: bytes, content_type: str) -> Asset:
    return Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def load_assets(directory: Path) -> dict[str, Asset]:
    """Every servable file of ``directory`` (not its subdirectories), by file name, and the
    generated ``catalogue.js``."""
    assets: dict[str, Asset] = {}
    for path in sorted(directory.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        assets[path.name] = _asset(path.read_bytes(), content_type)
    if INDEX not in assets:
        raise RuntimeError(f"the web page is missing: {directory / INDEX}")
    assets[catalogue.NAME] = _asset(catalogue.catalogue_js(), CONTENT_TYPES[".js"])
    return assets


def content_security_policy(settings: Settings, host: str | None) -> str:
    """Only this server: scripts and styles from its files, sockets to its own host.

    ``'self'`` does not cover ``ws:``/``wss:`` in every browser, so the socket origins of the
    requested host, and of ``public_url`` when the room addresses are built from it, are named.
    """
    sockets = []
    hosts = [host] if host and _HOST.match(host) else []
    if settings.public_url:
        hosts.append(urlsplit(settings.public_url).netloc)
    for name in dict.fromkeys(hosts):
        sockets += [f"ws://{name}", f"wss://{name}"]
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src " + " ".join(["'self'", *sockets]),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags or "*" in tags


def _answer(request: Request, asset: Asset, extra: dict[str, str] | None = None) -> Response:
    headers = {**_COMMON_HEADERS, "ETag": asset.etag, **(extra or {})}
    if _not_modified(request, asset.etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


def web_router(settings: Settings, directory: Path = STATIC_DIR) -> APIRouter:
    """The page at ``/`` and its files at ``/static/{name}``; left out of the OpenAPI document."""
    assets = load_assets(directory)
    index = assets[INDEX]
    router = APIRouter(include_in_schema=False)

    @router.api_route("/", methods=["GET", "HEAD"])
    async def page(request: Request) -> Response:
        policy = content_security_policy(settings, request.headers.get("host"))
        return _answer(request, index, {"Content-Security-Policy": policy})

    @router.api_route("/static/{name}", methods=["GET", "HEAD"])
    async def static_file(name: str, request: Request) -> Response:
        asset = assets.get(name)
        if asset is None or name == INDEX:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
        return _answer(request, asset)

    return router
