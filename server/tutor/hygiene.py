"""What the model's text must not carry into the room: a speaker label, passage markers.

Models imitate the conversation they are shown, small ones most: they open with "Ada:" or
"Tutor:", and echo the ``<passage …>`` markers that quote the materials. The filter works on
the stream, so what the room sees as deltas is what ``agent.done.text`` says: text that may
still turn out to be a label or a marker is held back (a few characters) until it is clear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Who a model may announce itself or a learner as, besides the learners' own names.
_ROLES = ("tutor", "assistant", "ai", "teacher")
# A label is short: past this many characters of an answer's start, it is not one.
_LABEL_MAX = 48
# A marker is ``<passage …>`` or ``</passage>``, whatever the case or spacing; one longer than
# this is not a marker the prompt ever showed.
_MARKER_MAX = 200
_MARKER = re.compile(r"<\s*/?\s*passage\b[^<>]{0,200}>", re.IGNORECASE)
# What may follow "<" in a marker that has not arrived in full yet.
_MARKER_START = re.compile(r"<\s*/?\s*(p(a(s(s(a(g(e([\s>][^<>]*)?)?)?)?)?)?)?)?$", re.IGNORECASE)


class AnswerFilter:
    def __init__(self, names: Iterable[str]) -> None:
        labels = {n.strip().lower() for n in names if n.strip()} | set(_ROLES)
        self._labels = sorted(labels, key=len, reverse=True)
        self._at_start = True  # the label, if any, has not been decided yet
        self._trim = False  # a label was removed: the spaces after it go too
        self._held = ""

    def feed(self, text: str) -> str:
        """Take the next piece of the answer; returns what may be shown now."""
        self._held += text
        if self._at_start and self._undecided():
            return ""
        return self._release(final=False)

    def finish(self) -> str:
        """The rest, at the end of the answer; a marker cut off by the end is dropped."""
        return self._release(final=True)

    def _undecided(self) -> bool:
        """Whether what is held may still become a label; removes one that is complete."""
        head = self._held.lstrip()
        spoken = re.sub(r"\s+:", ":", head.lower())
        for label in self._labels:
            said = label + ":"
            if spoken.startswith(said):
                colon = head.index(":")
                self._held, self._trim, self._at_start = head[colon + 1 :], True, False
                return False
            if len(head) <= _LABEL_MAX and said.startswith(spoken.rstrip()):
                return True
        self._at_start = False
        return False

    def _release(self, *, final: bool) -> str:
        if self._at_start and final:
            self._at_start = False
        text = self._held
        # Until none is left: removing one marker may join the halves of another.
        while (unmarked := _MARKER.sub("", text)) != text:
            text = unmarked
        if self._trim:
            text = text.lstrip(" \t")
            self._trim = not text
        cut = text.rfind("<")
        if cut != -1 and len(text) - cut <= _MARKER_MAX and _MARKER_START.match(text, cut):
            # Maybe the start of a marker: hold it back until it is clear.
            self._held = "" if final else text[cut:]
            return text[:cut]
        self._held = ""
        return text
