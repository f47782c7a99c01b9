"""Hostile multipart bodies sent to ``POST /api/topics/{id}/materials`` over a raw socket.

Each attack gets a 4xx, never a 5xx and never a hang, and leaves no file in the data
directory. The streaming attacks are 64 MiB long while the server's upload limit is 1 GiB, so
only the multipart caps can stop them: the server must answer (and close the connection)
while the client is still sending, that is after reading far less than the attack. What the
client had written when the answer came is bounded by the socket buffers (a few MiB), not by
the attack's length.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.materials.upload import MAX_BOUNDARY_CHARS, MAX_PARTS

ATTACK_BYTES = 64 * 1024 * 1024
BLOCK_BYTES = 256 * 1024
BOUNDARY = "hostile-form-boundary"
PASSWORD = "correct horse battery staple"


@dataclass
class Answer:
    status: int
    body: bytes
    sent: int  # body bytes the client had written when the answer arrived
    closed: bool  # the server closed the connection after answering


@dataclass
class Target:
    port: int
    data_dir: Path
    token: str
    topic_id: int

    def files(self) -> set[str]:
        return {str(p.relative_to(self.data_dir)) for p in self.data_dir.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
async def target(
    security_backend: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Target]:
    """A server whose upload limit is far above every attack, and a topic its user owns."""
    from server.runner import start_in_process

    data_dir = tmp_path_factory.mktemp("hostile-data")
    settings = security_backend.settings(data_dir=data_dir, upload_max_bytes=1024**3)
    port, stop = await start_in_process(settings)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            name = f"uploader_{uuid.uuid4().hex[:10]}"
            created = await http.post("/api/users", json={"username": name, "password": PASSWORD})
            assert created.status_code == 201, created.text
            issued = await http.post(
                "/api/auth/token", data={"username": name, "password": PASSWORD}
            )
            token = issued.json()["access_token"]
            topic = await http.post(
                "/api/topics", json={"title": "Hostile forms"}, headers=_auth(token)
            )
            assert topic.status_code == 201, topic.text
        yield Target(port, data_dir, token, topic.json()["id"])
    finally:
        await stop()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def repeated(unit: bytes, total: int) -> Iterator[bytes]:
    """``total`` bytes of ``unit`` over and over, in blocks."""
    block = unit * (BLOCK_BYTES // len(unit))
    left = total
    while left > 0:
        yield block[:left]
        left -= len(block)


def part_head(name: str, *headers: str, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    lines = [f"--{BOUNDARY}", f"Content-Disposition: {disposition}", *headers, "", ""]
    return "\r\n".join(lines).encode()


async def _read_answer(sock: socket.socket, until_closed: bool) -> tuple[int, bytes, bool]:
    loop = asyncio.get_running_loop()
    data = b""
    while b"\r\n\r\n" not in data:
        more = await loop.sock_recv(sock, 65536)
        assert more, f"the server closed without answering: {data!r}"
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        more = await loop.sock_recv(sock, 65536)
        assert more, "the answer was cut short"
        body += more
    if not until_closed:
        return status, body, False
    try:
        closed = await asyncio.wait_for(loop.sock_recv(sock, 1), 10) == b""
    except ConnectionResetError:
        closed = True
    except TimeoutError:
        closed = False
    return status, body, closed


async def post_raw(
    target: Target,
    body: Iterable[bytes],
    *,
    content_type: str = f"multipart/form-data; boundary={BOUNDARY}",
    content_length: str | None = None,
    until_closed: bool = True,
) -> Answer:
    """Send the request head, then ``body`` until the server answers; never waits on a peer
    that stopped reading. With ``until_closed``, also wait to see whether the server closes.

    A bare socket, not a stream: a stream that fails to write (the server hung up) drops what
    it had not read yet, the answer included.
    """
    loop = asyncio.get_running_loop()
    sock = socket.create_connection(("127.0.0.1", target.port))
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    head = [
        f"POST /api/topics/{target.topic_id}/materials HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {target.token}",
        f"Content-Type: {content_type}",
    ]
    if content_length is not None:
        head.append(f"Content-Length: {content_length}")
    answer = asyncio.create_task(_read_answer(sock, until_closed))
    sent = 0
    try:
        await loop.sock_sendall(sock, ("\r\n".join(head) + "\r\n\r\n").encode())
        for chunk in body:
            if answer.done():
                break
            sending = asyncio.ensure_future(loop.sock_sendall(sock, chunk))
            await asyncio.wait({sending, answer}, return_when=asyncio.FIRST_COMPLETED)
            if not sending.done():
                sending.cancel()
                break
            if sending.exception() is not None:
                break  # the server hung up, which is what these tests look for
            sent += len(chunk)
        status, text, closed = await asyncio.wait_for(answer, 30)
    finally:
        answer.cancel()
        sock.close()
    return Answer(status, text, sent, closed)


# The catalogue code of each refusal status an upload can get.
REFUSAL_CODES = {400: "malformed_request", 413: "too_large", 415: "unsupported_media_type"}


def streaming_attacks() -> dict[str, tuple[Callable[[], Iterable[bytes]], int, str]]:
    """Name → (body, expected status, a word of the refusal)."""
    file_head = part_head("file", filename="notes.txt")

    def prefixed(prefix: bytes, unit: bytes) -> Callable[[], Iterable[bytes]]:
        return lambda: [prefix, *repeated(unit, ATTACK_BYTES)]

    tiny_part = part_head("f") + b"v\r\n"
    return {
        "blank-line-preamble": (prefixed(b"", b"\r\n"), 413, "besides"),
        "text-preamble": (prefixed(b"", b"preamble "), 400, "malformed"),
        "thousands-of-tiny-parts": (prefixed(b"", tiny_part), 400, f"{MAX_PARTS} parts"),
        "oversized-text-field": (prefixed(part_head("comment"), b"words "), 413, "besides"),
        "field-after-the-file": (
            prefixed(file_head + b"notes\r\n" + part_head("comment"), b"words "),
            413,
            "besides",
        ),
        "megabyte-header-line": (
            prefixed(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; x="'.encode(), b"a"
            ),
            400,
            "header size",
        ),
        "endless-header-lines": (
            prefixed(f"--{BOUNDARY}\r\n".encode(), b"X-Padding: 1\r\n"),
            400,
            "header count",
        ),
        "nested-multipart": (
            prefixed(
                part_head("file", "Content-Type: multipart/mixed; boundary=inner")
                + b'--inner\r\nContent-Disposition: file; filename="a.txt"\r\n\r\n',
                b"hello ",
            ),
            415,
            "multipart",
        ),
    }


@pytest.mark.parametrize("name", list(streaming_attacks()))
async def test_streaming_attack_is_refused_early(target: Target, name: str) -> None:
    body, status, word = streaming_attacks()[name]
    before = target.files()
    answer = await post_raw(target, body(), content_length=str(ATTACK_BYTES + 4096))
    assert answer.status == status, answer.body
    assert word in answer.body.decode()
    assert json.loads(answer.body)["code"] == REFUSAL_CODES[status]
    # Refused while the client was still sending, and the rest was not read.
    assert answer.sent < ATTACK_BYTES
    assert answer.closed
    assert target.files() == before


async def test_overlong_boundary_is_refused_before_the_body(target: Target) -> None:
    boundary = "b" * 1200
    before = target.files()
    body = [f"--{boundary}\r\n".encode(), *repeated(b"x", ATTACK_BYTES)]
    answer = await post_raw(
        target,
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
        content_length=str(ATTACK_BYTES + 1203),
    )
    assert answer.status == 400, answer.body
    assert f"{MAX_BOUNDARY_CHARS} characters" in answer.body.decode()
    assert json.loads(answer.body)["code"] == "malformed_request"
    assert answer.sent < ATTACK_BYTES and answer.closed
    assert target.files() == before


@pytest.mark.parametrize(
    ("declared", "status"),
    [
        pytest.param("-5", 400, id="negative"),
        pytest.param("twelve", 400, id="not-a-number"),
        pytest.param("1e9", 400, id="float"),
        pytest.param("9" * 40, 400, id="beyond-64-bits"),
        pytest.param(str(10**18), 413, id="absurd"),
    ],
)
async def test_bad_content_length_is_refused_before_the_body(
    target: Target, declared: str, status: int
) -> None:
    before = target.files()
    body = [part_head("file", filename="notes.txt"), *repeated(b"x", ATTACK_BYTES)]
    answer = await post_raw(target, body, content_length=declared)
    assert answer.status == status, answer.body
    assert answer.sent < ATTACK_BYTES and answer.closed
    assert target.files() == before


async def test_file_name_cannot_place_the_file(target: Target, tmp_path: Path) -> None:
    escape = tmp_path / "escaped.txt"
    raw = "../" * 12 + str(escape).lstrip("/") + "\x00\x07\x1b[2J\u202e.md"
    data = b"Notes with a name that tries to leave the data directory.\n"
    body = part_head("file", filename=raw) + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    before = target.files()
    answer = await post_raw(target, [body], content_length=str(len(body)), until_closed=False)
    # The name is only ever shown, cleaned; the bytes land under their hash and nowhere else.
    assert answer.status == 201, answer.body
    material = httpx.Response(200, content=answer.body).json()
    assert material["filename"] == "escaped.txt[2J.md"
    sha = material["sha256"]
    assert target.files() - before == {f"materials/{sha[:2]}/{sha}"}
    assert not escape.exists()
