"""Uploads that are refused: too large, not a supported type, unreadable, malformed.

Every refusal leaves nothing behind: no file in the data directory (staged or stored) and no
rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.server.materials.conftest import UPLOAD_LIMIT, Api, multipart
from tests.server.materials.files import make_elf, make_pdf, make_pe

if TYPE_CHECKING:
    from tests.server.materials.conftest import Stored


async def _refused(
    api: Api, stored: Stored, status: int, data: bytes, filename: str = "notes.txt"
) -> str:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    before = await stored.snapshot()
    r = await api.upload(owner, topic, data, filename)
    assert r.status_code == status, r.text
    assert await stored.snapshot() == before
    listed = await api.client.get(f"/api/topics/{topic}/materials", headers=owner.headers)
    assert listed.json() == []
    detail: str = r.json()["detail"]
    return detail


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        pytest.param(make_elf(), "lecture.pdf", id="elf-named-pdf"),
        pytest.param(make_pe(), "notes.txt", id="pe-named-txt"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(64), "diagram.md", id="png"),
        pytest.param(b"PK\x03\x04" + bytes(64), "slides.pdf", id="zip"),
        pytest.param("caf\u00e9 au lait".encode("latin-1"), "menu.txt", id="latin-1"),
        pytest.param(b"\xff\xfe" + "notes".encode("utf-16-le"), "notes.txt", id="utf-16"),
        pytest.param(b"text with a \x1b[31m terminal escape", "log.txt", id="control-chars"),
        pytest.param(b"", "empty.txt", id="empty"),
    ],
)
async def test_unsupported_content_is_415(
    api: Api, stored: Stored, data: bytes, filename: str
) -> None:
    await _refused(api, stored, 415, data, filename)


async def test_executable_refusal_says_what_it_is(api: Api, stored: Stored) -> None:
    detail = await _refused(api, stored, 415, make_elf(), "lecture.pdf")
    assert "executable" in detail


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"%PDF-1.7\n" + b"\x00garbage\xff" * 200, id="garbage"),
        pytest.param(make_pdf([["Half a document."]])[:60], id="truncated"),
        pytest.param(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n", id="no-pages"),
    ],
)
async def test_corrupt_pdf_is_415(api: Api, stored: Stored, data: bytes) -> None:
    await _refused(api, stored, 415, data, "broken.pdf")


async def test_over_the_limit_is_413(api: Api, stored: Stored) -> None:
    detail = await _refused(api, stored, 413, b"a" * (UPLOAD_LIMIT + 1))
    assert str(UPLOAD_LIMIT) in detail


async def test_exactly_the_limit_is_accepted(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    r = await api.upload(owner, topic, (b"word " * UPLOAD_LIMIT)[:UPLOAD_LIMIT])
    assert r.status_code == 201, r.text
    assert r.json()["size_bytes"] == UPLOAD_LIMIT


async def test_stream_without_content_length_is_cut_at_the_limit(api: Api, stored: Stored) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    body, headers = multipart(b"x" * (4 * UPLOAD_LIMIT))

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    before = await stored.snapshot()
    # A generator body goes out chunked: the server learns the size only by counting.
    r = await api.client.post(
        f"/api/topics/{topic}/materials", content=chunked(), headers={**headers, **owner.headers}
    )
    assert r.status_code == 413
    assert await stored.snapshot() == before


async def test_declared_size_over_the_limit_is_refused_before_the_body(
    api: Api, stored: Stored, materials_server: Any
) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    before = await stored.snapshot()
    reader, writer = await asyncio.open_connection("127.0.0.1", materials_server.port)
    try:
        # Headers only: the answer must come without a byte of the promised body.
        writer.write(
            (
                f"POST /api/topics/{topic}/materials HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\n"
                f"Authorization: Bearer {owner.token}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                f"Content-Length: {50 * UPLOAD_LIMIT}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    assert status_line.split()[1] == b"413"
    assert await stored.snapshot() == before


async def test_not_multipart_is_415(api: Api, stored: Stored) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    r = await api.client.post(
        f"/api/topics/{topic}/materials",
        content=b"raw notes",
        headers={"Content-Type": "text/plain", **owner.headers},
    )
    assert r.status_code == 415


async def test_form_without_file_field_is_422(api: Api, stored: Stored) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    before = await stored.snapshot()
    body, headers = multipart(b"notes", field=b"document")
    r = await api.upload_raw(owner, topic, body, headers)
    assert r.status_code == 422
    assert await stored.snapshot() == before


async def test_body_ending_inside_the_file_is_400(api: Api, stored: Stored) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    before = await stored.snapshot()
    body, headers = multipart(b"notes that go on and on")
    r = await api.upload_raw(owner, topic, body[:-40], headers)
    assert r.status_code == 400
    assert await stored.snapshot() == before


async def test_reading_past_the_time_limit_is_415(
    make_server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    # No reader process answers within a millisecond: every upload runs out of time.
    server = await make_server(data_dir=tmp_path, extract_timeout_s=0.001)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as client:
        api = Api(client, unique)
        owner = await api.signup("owner")
        topic = await api.topic(owner)
        r = await api.upload(owner, topic, make_pdf([["Never read."]]), "slow.pdf")
        assert r.status_code == 415
        assert "in time" in r.json()["detail"]
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
        listed = await client.get(f"/api/topics/{topic}/materials", headers=owner.headers)
        assert listed.json() == []


async def test_client_vanishing_mid_upload_leaves_nothing(
    api: Api, stored: Stored, materials_server: Any
) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    before = await stored.snapshot()
    body, headers = multipart(b"y" * (UPLOAD_LIMIT // 2))
    _, writer = await asyncio.open_connection("127.0.0.1", materials_server.port)
    writer.write(
        (
            f"POST /api/topics/{topic}/materials HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\n"
            f"Authorization: Bearer {owner.token}\r\n"
            f"Content-Type: {headers['Content-Type']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body[: len(body) // 2]
    )
    await writer.drain()
    # Wait until the server is receiving, then leave in the middle of the file.
    for _ in range(200):
        if stored.files() - before[0]:
            break
        await asyncio.sleep(0.01)
    assert stored.files() - before[0], "the upload never started"
    writer.close()
    for _ in range(500):
        if await stored.snapshot() == before:
            break
        await asyncio.sleep(0.01)
    assert await stored.snapshot() == before
