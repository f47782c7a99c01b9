"""Reading an upload's text in a child process with a deadline (see ``worker``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import weakref
from pathlib import Path

import server
from server.materials.extract import Chunk, Extracted
from server.materials.sniff import Unsupported

READ_IN_TIME = "the file could not be read in time"
UNREADABLE = "the file could not be read"
# What the child may see of our environment: enough to run Python, none of our secrets.
_PASSED_ENV = ("PATH", "LD_LIBRARY_PATH", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP")
# Where ``server`` is importable from, also when the project runs from a checkout.
_IMPORT_ROOT = str(Path(server.__file__).resolve().parent.parent)


# Readers running at once per process; more uploads wait their turn rather than each starting
# an interpreter (a burst of uploads must not become a burst of processes).
MAX_READERS = max(2, os.cpu_count() or 2)
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _reader_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(MAX_READERS)
    return slots


def _child_env() -> dict[str, str]:
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    env["PYTHONPATH"] = _IMPORT_ROOT
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


async def read_material(
    path: Path, filename: str, *, max_chars: int, max_text_chars: int, time_limit_s: float
) -> Extracted:
    """The type and passages of the file at ``path``.

    Raises ``Unsupported`` (with a reason for the uploader) when the file is not a material
    we can read, could not be read within ``time_limit_s`` seconds, or crashed the reader. The
    child process is gone when this returns or raises, also when the caller is cancelled.
    """
    request = json.dumps(
        {
            "path": str(path),
            "filename": filename,
            "max_chars": max_chars,
            "max_text_chars": max_text_chars,
        }
    ).encode("utf-8")
    async with _reader_slots():
        output = await _run_worker(request, time_limit_s)
    try:
        answer = json.loads(output)
    except ValueError:
        # Killed (e.g. out of memory) or crashed before answering.
        raise Unsupported(UNREADABLE) from None
    if not answer.get("ok"):
        raise Unsupported(str(answer.get("error") or UNREADABLE))
    return Extracted(
        content_type=str(answer["content_type"]),
        pages=answer["pages"],
        chunks=[Chunk(page, text) for page, text in answer["chunks"]],
    )


async def _run_worker(request: bytes, time_limit_s: float) -> bytes:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        # -P: import nothing from the working directory, only from PYTHONPATH and the install.
        "-P",
        "-m",
        "server.materials.worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=_child_env(),
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(request), time_limit_s)
    except TimeoutError:
        raise Unsupported(READ_IN_TIME) from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return output
