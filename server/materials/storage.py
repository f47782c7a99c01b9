"""Uploaded files on disk, kept by content: ``<data_dir>/materials/<sha[:2]>/<sha256>``.

A file is written under ``staging/`` first and renamed into place only when complete, so a
stored path always holds the whole file. Paths come only from the hash, never from anything
a client sent. Blocking calls: async code runs them in a thread.

Adding and removing references to a stored file is serialised by the caller (see
``service.lock_content``); this class only moves files.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "materials"
        self.staging = self.root / "staging"

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256

    def new_staging_path(self) -> Path:
        """A fresh path in the staging directory (same file system as the store)."""
        self.staging.mkdir(parents=True, exist_ok=True)
        return self.staging / f"{secrets.token_hex(16)}.part"

    def place(self, staged: Path, sha256: str) -> bool:
        """Move ``staged`` to its content's path. False if that content was already stored
        (``staged`` is then removed): same hash, same bytes."""
        target = self.path_for(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            staged.unlink(missing_ok=True)
            return False
        os.replace(staged, target)
        return True

    def remove(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)

    def discard(self, staged: Path) -> None:
        staged.unlink(missing_ok=True)
