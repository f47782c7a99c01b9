"""Display names for uploaded files.

The name a client sends is only ever shown back to people: storage paths come from the
content hash. It is still cleaned, so it cannot smuggle a path, control characters or
direction overrides into a listing.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_CHARS = 255
FALLBACK_NAME = "upload"
_DOT_RUNS = re.compile(r"\.{2,}")
_SPACE_RUNS = re.compile(r"\s+")
# Cc: control characters (NUL, newlines, escapes); Cf: invisible formatting, such as the
# right-to-left override that makes "evil\u202etxt.exe" display as "evilexe.txt".
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def display_name(raw: str | None) -> str:
    """A safe, non-empty name of at most ``MAX_NAME_CHARS`` characters, keeping the extension."""
    if not raw:
        return FALLBACK_NAME
    name = unicodedata.normalize("NFC", raw)
    # Browsers on Windows have sent whole paths; either separator ends a directory part.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Tabs and line breaks become spaces before other control characters are dropped.
    name = _SPACE_RUNS.sub(" ", name)
    name = "".join(c for c in name if unicodedata.category(c) not in _DROPPED_CATEGORIES)
    name = _DOT_RUNS.sub(".", name).strip(" .")
    if not name:
        return FALLBACK_NAME
    return _truncate(name)


def _truncate(name: str) -> str:
    if len(name) <= MAX_NAME_CHARS:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and len(extension) <= 16:
        return stem[: MAX_NAME_CHARS - len(extension) - 1].rstrip(" .") + "." + extension
    return name[:MAX_NAME_CHARS]


def has_markdown_extension(name: str) -> bool:
    return name.lower().endswith((".md", ".markdown", ".mdown", ".mkd"))
