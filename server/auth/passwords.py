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


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("no user has this password; it only spends the time a check takes")


def _verify(password: str, password_hash: str | None) -> bool:
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
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
