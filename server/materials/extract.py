"""Reading an upload's text. Runs in a child process (see ``isolate``): PDF parsers meet
hostile input, and a child can be killed when it takes too long or misbehaves.

Everything here is synchronous and returns plain, picklable values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader

from server.materials.chunking import chunk_markdown, chunk_plain
from server.materials.sniff import (
    HEAD_BYTES,
    MARKDOWN,
    PDF,
    Unsupported,
    decode_text,
    is_pdf,
    text_type,
)


@dataclass(frozen=True, slots=True)
class Chunk:
    page: int | None
    text: str


@dataclass(frozen=True, slots=True)
class Extracted:
    content_type: str
    pages: int | None
    chunks: list[Chunk]


def extract(path: str, filename: str, max_chars: int, max_text_chars: int) -> Extracted:
    """The type and passages of the file at ``path``; raises ``Unsupported`` with a reason.

    ``max_chars`` bounds each passage, ``max_text_chars`` the text of the whole file (a small
    compressed PDF can expand to far more text than its size).
    """
    with open(path, "rb") as file:
        head = file.read(HEAD_BYTES)
    if is_pdf(head):
        return _extract_pdf(path, max_chars, max_text_chars)
    text = decode_text(Path(path).read_bytes())
    if len(text) > max_text_chars:
        raise Unsupported("the file holds more text than allowed")
    content_type = text_type(text, filename)
    chunk = chunk_markdown if content_type == MARKDOWN else chunk_plain
    return Extracted(content_type, None, [Chunk(None, t) for t in chunk(text, max_chars)])


def _extract_pdf(path: str, max_chars: int, max_text_chars: int) -> Extracted:
    # pypdf logs every repair it makes to a broken file; the answer to the uploader says enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unsupported("the PDF is password-protected")
        pages = list(reader.pages)
        if not pages:
            raise Unsupported("the PDF has no pages")
        chunks: list[Chunk] = []
        total = 0
        for number, page in enumerate(pages, start=1):
            text = _clean(page.extract_text() or "")
            total += len(text)
            if total > max_text_chars:
                raise Unsupported("the PDF holds more text than allowed")
            chunks.extend(Chunk(number, t) for t in chunk_plain(text, max_chars))
    except Unsupported:
        raise
    except Exception as exc:
        # A damaged file makes pypdf fail in many ways, not only with its own errors.
        raise Unsupported("the PDF is damaged or cannot be read") from exc
    return Extracted(PDF, len(pages), chunks)


def _clean(text: str) -> str:
    """Text a database accepts: no NUL (PostgreSQL refuses it), no lone surrogates."""
    text = text.replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8")
