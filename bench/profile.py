"""Where a server's CPU goes under load: ``py-spy record`` against its pid, summarised.

py-spy samples the running process from outside (``--nonblocking``: it does not pause the
server), and writes collapsed stacks; this module turns them into the functions with the most
samples, by their own time (the innermost frame) and by inclusive time (anywhere in a stack).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

# "function (path/module.py:123)" -> "function (path/module.py)": one entry per function.
_FRAME = re.compile(r"^(?P<name>.*?) \((?P<path>[^()]*?)(?::\d+)?\)$")
ROOT = str(Path(__file__).resolve().parent.parent) + "/"
# The project's own code: its inclusive shares say which part of studyroom is busy. The
# command-line entry point is on every stack and says nothing.
_OURS = ("(server/", "(protocol/")
_ENTRY = ("(server/cli.py)", "(server/__main__.py)")


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["path"]
    if path.startswith(ROOT):
        path = path[len(ROOT) :]
    for marker in ("site-packages/", "lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "lib/python3.":
                path = path.split("/", 1)[-1]
    return f"{match['name']} ({path})"


async def record(pid: int, seconds: float, out: Path, core: int | None) -> Path:
    """Sample ``pid`` for ``seconds`` into collapsed stacks at ``out``."""
    tool = py_spy()
    if tool is None:
        raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
    command = [
        *(["taskset", "-c", str(core)] if core is not None else []),
        *(tool, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))),
        *("--rate", "250", "--nonblocking", "--format", "raw", "--output", str(out)),
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"py-spy failed: {output.decode(errors='replace')[-500:]}")
    return out


def summarise(collapsed: Path, top: int = 25) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f.strip()]
        # py-spy starts each stack with the thread ("process 1:\"MainThread\""); skip it.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def table(counter: Counter[str], keep: int = top) -> list[dict[str, Any]]:
        return [
            {"function": name, "samples": n, "share": round(n / total, 4) if total else 0.0}
            for name, n in counter.most_common(keep)
        ]

    ours = Counter(
        {
            f: n
            for f, n in inclusive.items()
            if any(m in f for m in _OURS) and not f.endswith(_ENTRY)
        }
    )
    return {
        "samples": total,
        "self": table(own),
        "inclusive": table(inclusive),
        "studyroom_inclusive": table(ours, 40),
    }
