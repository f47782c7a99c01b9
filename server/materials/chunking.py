"""Cutting a document's text into passages: the units search ranks and the tutor quotes.

A passage is at most ``max_chars`` long and never spans a Markdown heading (a new section
starts a new passage) or a PDF page (pages are chunked one by one, so each passage has one
page number). Inside those bounds paragraphs are packed together; a paragraph longer than a
passage is cut between sentences, then between words, and only as a last resort mid-word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
_FENCE = re.compile(r"^ {0,3}(?:```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
_WHITESPACE = re.compile(r"\s+")
_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    heading: bool = False


def chunk_markdown(text: str, max_chars: int) -> list[str]:
    return _pack(_markdown_blocks(_normalize(text)), max_chars)


def chunk_plain(text: str, max_chars: int) -> list[str]:
    return _pack(_paragraphs(_normalize(text)), max_chars)


def _normalize(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _paragraphs(text: str) -> list[_Block]:
    return [_Block(p.strip()) for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


def _markdown_blocks(text: str) -> list[_Block]:
    """Headings, paragraphs, and fenced code kept whole (blank lines inside do not split it)."""
    blocks: list[_Block] = []
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            blocks.append(_Block(body))
        lines.clear()

    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and not line.strip():
            flush()
            continue
        elif not in_fence and _HEADING.match(line):
            flush()
            blocks.append(_Block(line.strip(), heading=True))
            continue
        lines.append(line)
    flush()
    return blocks


def _pack(blocks: list[_Block], max_chars: int) -> list[str]:
    chunks: list[str] = []
    current: list[_Block] = []
    size = 0

    def flush() -> None:
        nonlocal size
        if current:
            chunks.append(_SEPARATOR.join(b.text for b in current))
        current.clear()
        size = 0

    for block in blocks:
        # A heading opens a new passage, unless the passage so far is only headings (a title
        # followed by a section heading belongs with that section's first paragraph).
        if block.heading and not all(b.heading for b in current):
            flush()
        for piece in _split_long(block, max_chars):
            added = len(piece.text) + (len(_SEPARATOR) if current else 0)
            if current and size + added > max_chars:
                flush()
                added = len(piece.text)
            current.append(piece)
            size += added
    flush()
    return chunks


def _split_long(block: _Block, max_chars: int) -> list[_Block]:
    if len(block.text) <= max_chars:
        return [block]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(block.text):
        pieces.extend(_split_words(sentence, max_chars))
    return [_Block(text, block.heading) for text in _join_up_to(pieces, max_chars, " ")]


def _split_words(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    words: list[str] = []
    for word in _WHITESPACE.split(sentence):
        words.extend(word[i : i + max_chars] for i in range(0, len(word), max_chars))
    return _join_up_to(words, max_chars, " ")


def _join_up_to(parts: list[str], max_chars: int, separator: str) -> list[str]:
    joined: list[str] = []
    current = ""
    for part in parts:
        if not part:
            continue
        if current and len(current) + len(separator) + len(part) > max_chars:
            joined.append(current)
            current = part
        else:
            current = f"{current}{separator}{part}" if current else part
    if current:
        joined.append(current)
    return joined
