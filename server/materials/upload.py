"""Receiving an upload: a ``multipart/form-data`` body streamed to a staging file.

The body is parsed as it arrives, never held whole in memory or spooled elsewhere first; its
``file`` part is hashed and written as it comes. The size limit is enforced on what arrives,
so a missing or understated ``Content-Length`` gains nothing, and an overstated one is
refused before a byte of the body is read.

Everything around the file (a preamble, other fields, part headers, the epilogue) has a small
budget of its own, and parts, part headers and the boundary are capped too: a hostile form is
refused as soon as it crosses one of these limits, not after the whole upload limit was read.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from protocol.errors import ErrorCode, error_code_for_status

FIELD = "file"
# Everything in the body that is not the file's bytes: boundaries, part headers, other fields,
# a preamble or an epilogue. A browser's form needs a few hundred bytes of it.
ENVELOPE_BYTES = 64 * 1024
# Parts of one form, the file's included; a browser sends one.
MAX_PARTS = 16
# Header lines per part, and bytes per header line (a long file name must still fit).
MAX_PART_HEADERS = 8
MAX_PART_HEADER_BYTES = 4096
# RFC 2046 allows boundaries of 1 to 70 characters.
MAX_BOUNDARY_CHARS = 70


class UploadRejected(Exception):
    """The request cannot become a material; ``status``, ``detail`` and ``code`` are the answer
    (``code`` is the status's own unless given).

    Unless ``body_ended``, the body may not have been read to its end: whoever answers should
    close the connection rather than read all the rest of it.
    """

    def __init__(
        self, status: int, detail: str, *, body_ended: bool = False, code: ErrorCode | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or error_code_for_status(status)
        self.body_ended = body_ended


def too_large(max_bytes: int) -> UploadRejected:
    return UploadRejected(413, f"the file is larger than the limit of {max_bytes} bytes")


def envelope_too_large() -> UploadRejected:
    return UploadRejected(
        413, f"the form holds more than {ENVELOPE_BYTES} bytes besides the {FIELD!r} file"
    )


@dataclass
class StagedUpload:
    path: Path
    size: int
    sha256: str
    filename: str | None


@dataclass
class _Parts:
    """What the parser callbacks have seen so far."""

    max_bytes: int
    parts: int = 0
    header_name: bytes = b""
    header_value: bytes = b""
    disposition: bytes = b""
    content_type: bytes = b""
    in_file: bool = False
    file_seen: bool = False
    file_done: bool = False
    filename: str | None = None
    size: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    pending: list[bytes] = field(default_factory=list)

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise UploadRejected(400, f"the form has more than {MAX_PARTS} parts")
        self.disposition = self.content_type = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        name = self.header_name.strip().lower()
        if name == b"content-disposition":
            self.disposition = self.header_value
        elif name == b"content-type":
            self.content_type = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        # Only the first part named "file" is the upload; other parts are read past.
        self.in_file = options.get(b"name") == FIELD.encode() and not self.file_seen
        if self.in_file:
            declared, _ = parse_options_header(self.content_type)
            if declared.startswith(b"multipart/"):
                # A container of further parts (RFC 7578 no longer allows it): which of its
                # files would be the upload is anybody's guess.
                raise UploadRejected(415, f"the {FIELD!r} part is itself multipart; send one file")
            self.file_seen = True
            raw = options.get(b"filename")
            self.filename = _decode_header(raw) if raw is not None else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_file:
            return
        chunk = data[start:end]
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise too_large(self.max_bytes)
        self.digest.update(chunk)
        self.pending.append(chunk)

    def on_part_end(self) -> None:
        if self.in_file:
            self.file_done = True
            self.in_file = False


def _decode_header(raw: bytes) -> str:
    # Browsers send UTF-8 file names; the parser hands them over as Latin-1 bytes.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _check_headers(request: Request, max_bytes: int) -> bytes:
    """The multipart boundary; refuses what can be refused before reading the body."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data":
        raise UploadRejected(415, f"send the file as multipart/form-data in the field {FIELD!r}")
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadRejected(400, "multipart body without a boundary")
    if len(boundary) > MAX_BOUNDARY_CHARS:
        raise UploadRejected(400, f"the boundary is longer than {MAX_BOUNDARY_CHARS} characters")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + ENVELOPE_BYTES:
        raise too_large(max_bytes)
    return boundary


async def receive_upload(request: Request, staging_path: Path, max_bytes: int) -> StagedUpload:
    """Stream the request's ``file`` part to ``staging_path``, hashing it on the way.

    Raises ``UploadRejected`` (413 over ``max_bytes``, 415 not multipart, 400 malformed, 422
    no ``file`` part). Whatever happens, ``staging_path`` exists afterwards only on success.
    """
    boundary = _check_headers(request, max_bytes)
    parts = _Parts(max_bytes)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": parts.on_part_begin,
            "on_header_field": parts.on_header_field,
            "on_header_value": parts.on_header_value,
            "on_header_end": parts.on_header_end,
            "on_headers_finished": parts.on_headers_finished,
            "on_part_data": parts.on_part_data,
            "on_part_end": parts.on_part_end,
        },
        max_header_count=MAX_PART_HEADERS,
        max_header_size=MAX_PART_HEADER_BYTES,
    )
    received = 0
    try:
        async with await anyio.open_file(staging_path, "wb") as out:
            async for data in request.stream():
                received += len(data)
                try:
                    parser.write(data)
                except FormParserError as exc:
                    raise UploadRejected(400, f"malformed multipart body: {exc}") from None
                # Checked after the chunk is parsed, once its file bytes are counted.
                if received - parts.size > ENVELOPE_BYTES:
                    raise envelope_too_large()
                if parts.pending:
                    await out.write(b"".join(parts.pending))
                    parts.pending.clear()
            if not parts.file_seen:
                raise UploadRejected(422, f"the form has no field {FIELD!r}", body_ended=True)
            if not parts.file_done:
                raise UploadRejected(400, "the upload ended before the file did", body_ended=True)
            await out.flush()
            # On disk before it is acknowledged: a crash after the answer must not lose it.
            await anyio.to_thread.run_sync(os.fsync, out.wrapped.fileno())
    except BaseException:
        await anyio.to_thread.run_sync(lambda: staging_path.unlink(missing_ok=True))
        raise
    return StagedUpload(staging_path, parts.size, parts.digest.hexdigest(), parts.filename)
