"""Small formatting helpers shared by the commands' tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

NONE = "—"
# Eighths of a block, for bars that end between two characters.
PARTIAL_BLOCKS = " ▏▎▍▌▋▊▉"


def when(moment: datetime | None) -> str:
    """A timestamp in the local time zone, to the minute."""
    return NONE if moment is None else f"{moment.astimezone():%Y-%m-%d %H:%M}"


def day(value: date | None) -> str:
    return NONE if value is None else value.isoformat()


def duration(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def percent(share: float | None) -> str:
    return NONE if share is None else f"{share:.0%}"


def number(value: float) -> str:
    """``3`` for whole numbers, ``2.5`` otherwise."""
    return f"{value:g}" if value != int(value) else f"{int(value)}"


def bar(value: float, largest: float, width: int) -> str:
    """A horizontal bar of ``value`` on a scale where ``largest`` fills ``width`` characters."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(min(value, largest) / largest * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (PARTIAL_BLOCKS[rest] if rest else "")


def meter(share: float, width: int = 20) -> str:
    """``█████░░░░░  50%``: a share from 0 to 1 that reads without colours too."""
    filled = bar(share, 1.0, width)
    return f"{filled}{'░' * (width - len(filled))} {share:>4.0%}"
