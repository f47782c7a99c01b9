"""Password hashing with Argon2id.

Hashing is deliberately slow and memory-hungry, so it runs on a small dedicated thread pool:
the event loop keeps serving, and a burst of logins cannot claim more than one hash's memory
per core.
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="password-hash")


# What the hash checked for a missing user is made of; no account can have it.
DUMMY_PASSWORD = "no user has this password; it only spends the time a check takes"  # noqa: S105


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(DUMMY_PASSWORD)


def _verify(password: str, password_hash: str | None) -> bool:
    # An empty hash (a deleted account's) matches nothing, like a missing user: not even the
    # dummy's own password.
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    """The Argon2id hash of ``password``, in PHC string form."""
    return await asyncio.get_running_loop().run_in_executor(_pool, _hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches ``password_hash``.

    Pass ``None`` when the user does not exist: a dummy hash is checked instead, so the answer
    takes as long as for a real user and timing does not tell which usernames exist.
    """
    return await asyncio.get_running_loop().run_in_executor(_pool, _verify, password, password_hash)
