"""What an upload is, decided by its bytes: PDF, Markdown or plain text, or refused.

The client's declared type is ignored and its file name only chooses between Markdown and
plain text for content that is text either way. Everything else (executables, images,
archives, other encodings) is refused with a reason a person can act on.
"""

from __future__ import annotations

import re

from server.materials.names import has_markdown_extension

PDF = "application/pdf"
MARKDOWN = "text/markdown"
TEXT = "text/plain"
HEAD_BYTES = 16

_PDF_MAGIC = b"%PDF-"
_UTF8_BOM = b"\xef\xbb\xbf"
# Only for a clearer refusal: these are refused anyway because they are not UTF-8 text.
_BINARY_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "an executable (ELF)"),
    (b"MZ", "an executable (PE)"),
    (b"\xcf\xfa\xed\xfe", "an executable (Mach-O)"),
    (b"\xca\xfe\xba\xbe", "an executable or class file"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a media file"),
    (b"\xd0\xcf\x11\xe0", "an old Office document"),
)
# Text files may hold tabs, line breaks and form feeds (page breaks); any other control
# character means the bytes are not meant as text.
_FOREIGN_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MARKDOWN_STRUCTURE = re.compile(
    r"^ {0,3}#{1,6}[ \t]+\S"  # ATX heading
    r"|^ {0,3}(?:```|~~~)"  # fenced code
    r"|^[^\n]*\S[ \t]*\n {0,3}(?:=+|-{2,})[ \t]*$"  # Setext heading
    r"|\[[^\]\n]{1,200}\]\([^)\s]{1,500}\)",  # inline link
    re.MULTILINE,
)


class Unsupported(Exception):
    """Not a file we can read; ``str(exc)`` tells the uploader why."""


def is_pdf(head: bytes) -> bool:
    return head.startswith(_PDF_MAGIC)


def describe_binary(head: bytes) -> str | None:
    for magic, kind in _BINARY_KINDS:
        if head.startswith(magic):
            return kind
    return None


def decode_text(data: bytes) -> str:
    """The text of a UTF-8 file (a leading BOM dropped); raises ``Unsupported`` otherwise."""
    if not data:
        raise Unsupported("the file is empty")
    kind = describe_binary(data[:HEAD_BYTES])
    refusal = f"{kind} is not a supported material" if kind else None
    if b"\x00" in data:
        raise Unsupported(refusal or "binary files are not supported; upload PDF or text")
    try:
        text = data.removeprefix(_UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError:
        raise Unsupported(refusal or "text must be UTF-8 encoded") from None
    if _FOREIGN_CONTROLS.search(text):
        raise Unsupported(refusal or "binary files are not supported; upload PDF or text")
    return text


def text_type(text: str, filename: str) -> str:
    """Markdown for a Markdown name or Markdown structure, else plain text."""
    # Structure shows near the top; looking further only costs time on huge files.
    if has_markdown_extension(filename) or _MARKDOWN_STRUCTURE.search(text, 0, 64 * 1024):
        return MARKDOWN
    return TEXT
