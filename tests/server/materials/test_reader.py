"""The child process that reads uploads: answers, refusals, and its deadline."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.materials.reader import READ_IN_TIME, read_material
from server.materials.sniff import PDF, TEXT, Unsupported
from tests.server.materials.files import make_pdf


async def test_reads_a_pdf(tmp_path: Path) -> None:
    path = tmp_path / "doc.pdf"
    path.write_bytes(make_pdf([["First (page) one."], [], ["Third \\ page."]]))
    extracted = await read_material(
        path, "doc.pdf", max_chars=1000, max_text_chars=10_000, time_limit_s=30
    )
    assert extracted.content_type == PDF
    assert extracted.pages == 3
    # The empty second page has no passage; the others keep their page numbers.
    assert [(c.page, c.text) for c in extracted.chunks] == [
        (1, "First (page) one."),
        (3, "Third \\ page."),
    ]


async def test_reads_text(tmp_path: Path) -> None:
    path = tmp_path / "notes"
    path.write_text("Na\u00efve notes.\n", encoding="utf-8")
    extracted = await read_material(
        path, "notes", max_chars=1000, max_text_chars=10_000, time_limit_s=30
    )
    assert extracted.content_type == TEXT
    assert extracted.pages is None
    assert [c.text for c in extracted.chunks] == ["Na\u00efve notes."]


async def test_too_much_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.pdf"
    path.write_bytes(make_pdf([["x" * 80] * 20]))
    with pytest.raises(Unsupported, match="more text"):
        await read_material(path, "big.pdf", max_chars=1000, max_text_chars=500, time_limit_s=30)


async def test_deadline(tmp_path: Path) -> None:
    path = tmp_path / "doc.pdf"
    path.write_bytes(make_pdf([["Slow."]]))
    with pytest.raises(Unsupported, match=READ_IN_TIME):
        await read_material(
            path, "doc.pdf", max_chars=1000, max_text_chars=10_000, time_limit_s=0.001
        )


async def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(Unsupported):
        await read_material(
            tmp_path / "gone", "gone", max_chars=1000, max_text_chars=10_000, time_limit_s=30
        )
