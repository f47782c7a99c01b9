"""The child process that reads one upload: ``python -m server.materials.worker``.

It reads a JSON request on stdin and writes one JSON answer on stdout, then exits. Parsing
untrusted files happens here, never in the server: a file that makes the parser spin or
crash costs only this process, which the server kills when its time is up (``reader``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from server.materials.extract import extract
from server.materials.sniff import Unsupported

# Address space the parser may use. A decompression bomb fails here instead of pushing the
# machine into swap or the out-of-memory killer while its timeout runs.
MEMORY_LIMIT_BYTES = 2 * 1024**3


def _limit_memory() -> None:
    try:
        import resource
    except ImportError:  # not on this platform
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = MEMORY_LIMIT_BYTES if hard == resource.RLIM_INFINITY else min(hard, MEMORY_LIMIT_BYTES)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def handle(request: dict[str, Any]) -> dict[str, Any]:
    try:
        extracted = extract(
            str(request["path"]),
            str(request["filename"]),
            int(request["max_chars"]),
            int(request["max_text_chars"]),
        )
    except Unsupported as exc:
        return {"ok": False, "error": str(exc)}
    return {
        "ok": True,
        "content_type": extracted.content_type,
        "pages": extracted.pages,
        "chunks": [[chunk.page, chunk.text] for chunk in extracted.chunks],
    }


def main() -> None:
    _limit_memory()
    answer = handle(json.loads(sys.stdin.buffer.read()))
    sys.stdout.buffer.write(json.dumps(answer, ensure_ascii=False).encode("utf-8"))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
