"""Token revocations, the same on every engine: revoked at once, for every process, until the
token would have expired."""

from __future__ import annotations

import asyncio
from typing import Any


async def test_a_revoked_token_is_refused_by_every_process_until_it_expires(engine: Any) -> None:
    first = await engine.open()
    second = await engine.peer(first)
    assert not await first.revocations.revoked("t1")
    await first.revocations.revoke("t1", 1)
    assert await first.revocations.revoked("t1")
    assert await second.revocations.revoked("t1")
    assert not await second.revocations.revoked("t2")
    # Forgotten once the token itself would have expired: nothing grows without bound.
    await asyncio.sleep(1.2)
    assert not await second.revocations.revoked("t1")
