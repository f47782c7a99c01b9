"""How documents are cut into passages and how their type is told from their bytes."""

from __future__ import annotations

import pytest

from server.materials.chunking import chunk_markdown, chunk_plain
from server.materials.sniff import MARKDOWN, TEXT, Unsupported, decode_text, text_type


def test_sections_start_new_passages() -> None:
    text = "# Title\n\n## One\n\nFirst body.\n\n## Two\nSecond body.\n"
    assert chunk_markdown(text, 1000) == [
        "# Title\n\n## One\n\nFirst body.",
        "## Two\n\nSecond body.",
    ]


def test_paragraphs_are_packed_up_to_the_limit() -> None:
    paragraphs = ["p" * 40 for _ in range(5)]
    chunks = chunk_plain("\n\n".join(paragraphs), 100)
    assert chunks == ["p" * 40 + "\n\n" + "p" * 40] * 2 + ["p" * 40]


def test_every_passage_fits_and_no_word_is_lost() -> None:
    sentence = "Cells divide by mitosis and by meiosis in sexual reproduction. "
    text = sentence * 200 + "\n\n" + "supercalifragilistic" * 30
    chunks = chunk_plain(text, 300)
    assert all(0 < len(c) <= 300 for c in chunks)
    assert "".join(chunks).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )


def test_fenced_code_is_not_split_on_blank_lines() -> None:
    text = "Intro.\n\n```\ncode line\n\nmore code\n```\n\n# Next\nBody."
    chunks = chunk_markdown(text, 1000)
    assert chunks == ["Intro.\n\n```\ncode line\n\nmore code\n```", "# Next\n\nBody."]
    # A '#' inside a fence is code, not a heading.
    assert chunk_markdown("```\n# not a heading\n```", 1000) == ["```\n# not a heading\n```"]


def test_blank_documents_have_no_passages() -> None:
    assert chunk_plain(" \n\n\t\n", 100) == []
    assert chunk_markdown("", 100) == []


def test_windows_line_endings() -> None:
    assert chunk_plain("a\r\n\r\nb", 1) == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("# Heading\nbody", "notes.txt", MARKDOWN),
        ("Title\n=====\nbody", "notes", MARKDOWN),
        ("See [the docs](https://example.org).", "a.txt", MARKDOWN),
        ("```python\nprint(1)\n```", "code", MARKDOWN),
        ("Plain words.\n- a list is not enough", "notes.txt", TEXT),
        ("#hashtag is not a heading", "notes.txt", TEXT),
        ("Plain words.", "notes.MD", MARKDOWN),
        ("Plain words.", "notes.markdown", MARKDOWN),
    ],
)
def test_text_type(text: str, name: str, expected: str) -> None:
    assert text_type(text, name) == expected


def test_decode_text() -> None:
    assert decode_text(b"\xef\xbb\xbfhello\tworld\x0c") == "hello\tworld\x0c"
    for bad in (b"", b"a\x00b", b"\xc3\x28", b"\x7fELF\x02\x01"):
        with pytest.raises(Unsupported):
            decode_text(bad)
