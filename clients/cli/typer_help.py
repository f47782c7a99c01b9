"""Adapter for typer's rich help: a flag takes no value, so its row names no type.

typer 0.29 renders every option's type in the rich help panels, flags included, so
``--json`` reads as ``--json <bool>`` (and ``--help <bool>``) as if it wanted a value. The
plain help (``TyperOption.get_help_record``) already leaves flags bare; this makes the rich
panels agree. Borrowed: ``typer.core.TyperOption.display_type_rich`` (a method returning the
type text or ``None`` for none) and the options' ``is_flag`` and ``count``; older typers
without the method need nothing and are left alone.
"""

from __future__ import annotations

from typing import Any

from typer import core

_PATCHED = "_studyroom_flags_bare"


def install() -> None:
    """Make flags render bare in every typer help panel of this process (idempotent)."""
    option = core.TyperOption
    borrowed = getattr(option, "display_type_rich", None)
    if borrowed is None or getattr(borrowed, _PATCHED, False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        result: str | None = borrowed(self, ctx)
        return result

    setattr(display_type_rich, _PATCHED, True)
    option.display_type_rich = display_type_rich  # type: ignore[method-assign]
