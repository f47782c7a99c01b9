"""File names from clients are shown cleaned and never become storage paths."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest

from server.materials.names import MAX_NAME_CHARS, display_name
from tests.server.materials.conftest import multipart

if TYPE_CHECKING:
    from tests.server.materials.conftest import Api, Stored


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        pytest.param(b"../../etc/passwd", "passwd", id="relative-path"),
        pytest.param(b"/etc/shadow", "shadow", id="absolute-path"),
        pytest.param(b"C:\\\\x\\\\y.md", "y.md", id="windows-path"),
        pytest.param(b"a\x00b.txt", "ab.txt", id="nul"),
        pytest.param(b"bell\x07\ttab.txt", "bell tab.txt", id="control-chars"),
        pytest.param(b"..", "upload", id="dot-dot"),
        pytest.param("r\u00e9sum\u00e9\u202etxt.md".encode(), "r\u00e9sum\u00e9txt.md", id="bidi"),
    ],
)
async def test_uploaded_name_is_cleaned(api: Api, stored: Stored, raw: bytes, shown: str) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    data = b"Notes whose name tries tricks: " + raw.hex().encode() + b"\n"
    body, headers = multipart(data, filename=raw)
    before = stored.files()
    r = await api.upload_raw(owner, topic, body, headers)
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == shown
    sha = hashlib.sha256(data).hexdigest()
    # The only new file is the content-addressed one.
    assert stored.files() - before == {f"{sha[:2]}/{sha}"}


async def test_missing_name_gets_a_placeholder(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    body, headers = multipart(b"Anonymous notes.\n", filename=None)
    r = await api.upload_raw(owner, topic, body, headers)
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == "upload"


def test_long_names_keep_their_extension() -> None:
    name = display_name("x" * 1000 + ".md")
    assert len(name) == MAX_NAME_CHARS
    assert name.endswith("x.md")
    assert len(display_name("y" * 1000)) == MAX_NAME_CHARS


def test_ordinary_names_are_kept() -> None:
    assert display_name("Chapter 3 - Cells (v2).pdf") == "Chapter 3 - Cells (v2).pdf"
    assert display_name("  spaced\tname .txt ") == "spaced name .txt"
    assert display_name(None) == "upload"
