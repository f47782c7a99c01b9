"""The transcript outbox on Redis: a consumer group on the one outbox stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from redis.exceptions import ResponseError

from server.live.keys import LiveKeys
from server.live.ports import OutboxItem
from server.live.redis_client import (
    COMMAND_TIMEOUT_S,
    Client,
    Entries,
    load_script,
    stream_entries,
    unavailable,
)

log = logging.getLogger(__name__)

# Blocking reads are cut into slices well inside the socket timeout.
_BLOCK_SLICE_S = 2.0
_CLAIM_SCANS = 10
# A consumer idle this long is dead, not slow: claiming what it held took ``claim_idle_s``.
_PRUNE_IDLE_FACTOR = 10
_PRUNE_IDLE_MIN_S = 600.0
_PRUNE_EVERY_S = 60.0


class RedisOutbox:
    """The ``transcript`` consumer group on the outbox stream.

    An entry taken and not acknowledged stays pending to this consumer: ``take`` hands it out
    again once released, and other consumers claim it once it has been idle for
    ``claim_idle_s`` (its taker is presumed dead).

    Looking over the pending lists costs two round trips, so ``take`` does it only when
    something can be there: its own list after a release, a failed acknowledgement or a read
    whose reply was lost; other consumers' entries at most every half ``claim_idle_s``.

    Each process reads under a fresh consumer name, so ``take`` also deletes, at most once per
    ``prune_every_s``, the consumers that have nothing pending and have been idle longer than
    ``prune_idle_s`` (by default ten times ``claim_idle_s``, and at least ten minutes). One
    that still holds entries is kept until the others have claimed them.
    """

    def __init__(
        self,
        client: Client,
        keys: LiveKeys,
        *,
        consumer: str,
        claim_idle_s: float,
        prune_idle_s: float | None = None,
        prune_every_s: float = _PRUNE_EVERY_S,
        timeout_s: float = COMMAND_TIMEOUT_S,
        stream: str | None = None,
    ) -> None:
        self._client = client
        self._timeout_s = timeout_s
        # One of a cluster's partitions, or the one outbox.
        self._stream = keys.outbox if stream is None else stream
        self._group = keys.outbox_group
        self._consumer = consumer
        self._claim_idle_ms = max(1, round(claim_idle_s * 1000))
        self._claim_every_s = claim_idle_s / 2
        self._claimed_at: float | None = None
        # Entries may be pending to this consumer that ``take`` did not hand out.
        self._own_pending_unknown = True
        if prune_idle_s is None:
            prune_idle_s = max(_PRUNE_IDLE_FACTOR * claim_idle_s, _PRUNE_IDLE_MIN_S)
        self._prune_idle_ms = max(1, round(prune_idle_s * 1000))
        self._prune_every_s = prune_every_s
        self._pruned_at: float | None = None
        self._prune = load_script(client, "outbox_prune.lua")
        # Taken and neither acknowledged nor released: not handed out again by this process.
        self._in_flight: set[str] = set()
        # Set by ``release``: a take waiting for new entries has older ones to hand out.
        self._released = asyncio.Event()

    async def create_group(self) -> None:
        async with unavailable(self._timeout_s):
            try:
                await self._client.xgroup_create(self._stream, self._group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def take(self, max_items: int, wait_s: float) -> list[OutboxItem]:
        """Released and claimable entries first, without waiting; then new ones.

        A ``release`` while this waits for new entries ends the wait with the released ones.
        """
        if max_items <= 0:
            return []
        try:
            async with unavailable(self._timeout_s, waits_s=wait_s):
                await self._prune_idle_consumers()
                try:
                    items = await self._take(max_items, wait_s)
                except ResponseError as exc:
                    # The stream was lost (flush, restart): recreate the group and read again.
                    if "NOGROUP" not in str(exc):
                        raise
                    await self.create_group()
                    items = await self._take(max_items, wait_s)
        except BaseException:
            # A read may have been served without its reply reaching us.
            self._own_pending_unknown = True
            raise
        self._in_flight.update(item.receipt for item in items)
        return items

    async def _prune_idle_consumers(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._pruned_at is not None and now - self._pruned_at < self._prune_every_s:
            return
        self._pruned_at = now
        gone = await self._prune(
            keys=[self._stream], args=[self._group, self._prune_idle_ms, self._consumer]
        )
        if gone:
            log.info("deleted %d idle consumers of the transcript outbox", len(gone))

    async def _take(self, max_items: int, wait_s: float) -> list[OutboxItem]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            # Cleared before the pending list is read: a release after that ends the wait.
            self._released.clear()
            seen = set(self._in_flight)
            items: list[OutboxItem] = []
            if self._own_pending_unknown:
                items = await self._own_pending(max_items, seen)
                # Read to its end: everything pending to us is handed out or in flight.
                self._own_pending_unknown = len(items) >= max_items
            now = loop.time()
            due = self._claimed_at is None or now - self._claimed_at >= self._claim_every_s
            if len(items) < max_items and due:
                self._claimed_at = now
                items += await self._claim(max_items - len(items), seen)
            if items:
                if len(items) < max_items:
                    items += await self._new(max_items - len(items))
                return items
            new = await self._wait_new(max_items, deadline)
            if new is not None:
                return new

    async def _own_pending(self, count: int, seen: set[str]) -> list[OutboxItem]:
        items: list[OutboxItem] = []
        cursor = "0"
        while len(items) < count:
            reply = await self._client.xreadgroup(
                self._group, self._consumer, {self._stream: cursor}, count + len(seen)
            )
            entries = stream_entries(reply)
            if not entries:
                break
            items += await self._items(entries, seen, count - len(items))
            cursor = entries[-1][0]
        return items

    async def _claim(self, count: int, seen: set[str]) -> list[OutboxItem]:
        items: list[OutboxItem] = []
        cursor = "0-0"
        for _ in range(_CLAIM_SCANS):
            reply = await self._client.xautoclaim(
                self._stream,
                self._group,
                self._consumer,
                self._claim_idle_ms,
                cursor,
                count - len(items),
            )
            cursor = str(reply[0])
            items += await self._items(stream_entries(reply[1]), seen, count - len(items))
            if cursor == "0-0" or len(items) >= count:
                break
        return items

    async def _new(self, count: int) -> list[OutboxItem]:
        """Entries never handed out, without waiting."""
        return await self._items(await self._read_new(count, None), set(), count)

    async def _wait_new(self, count: int, deadline: float) -> list[OutboxItem] | None:
        """Entries never handed out, waiting until ``deadline`` for the first.

        None if a release ended the wait.
        """
        loop = asyncio.get_running_loop()
        while True:
            block_ms = int(min(deadline - loop.time(), _BLOCK_SLICE_S) * 1000)
            if block_ms <= 0:
                return await self._new(count)
            entries = await self._unless_released(self._read_new(count, block_ms))
            if entries is None:
                return None
            if entries or loop.time() >= deadline:
                return await self._items(entries, set(), count)

    async def _read_new(self, count: int, block_ms: int | None) -> Entries:
        reply = await self._client.xreadgroup(
            self._group, self._consumer, {self._stream: ">"}, count, block_ms
        )
        return stream_entries(reply)

    async def _unless_released(self, read: Coroutine[Any, Any, Entries]) -> Entries | None:
        """What ``read`` returns, or None if ``release`` was called before it returned."""
        reading = asyncio.ensure_future(read)
        woken = asyncio.ensure_future(self._released.wait())
        try:
            await asyncio.wait((reading, woken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            if not reading.done():
                self._own_pending_unknown = True
                # The driver drops a connection whose reply it stopped waiting for, which ends
                # the BLOCK on the server. Anything that read was handed is pending to this
                # consumer and comes back with the next look at the pending list.
                reading.cancel()
                await asyncio.wait((reading,))
            if not reading.cancelled():
                # Retrieved even when this wait is itself cancelled, so it is never orphaned.
                reading.exception()
        if reading.cancelled():
            return None
        return reading.result()

    async def _items(self, entries: Entries, seen: set[str], limit: int) -> list[OutboxItem]:
        items: list[OutboxItem] = []
        lost: list[str] = []
        for entry_id, fields in entries:
            if entry_id in seen or len(items) >= limit:
                continue
            seen.add(entry_id)
            if not fields:
                lost.append(entry_id)
                continue
            items.append(OutboxItem(int(fields["s"]), int(fields["q"]), fields["d"], entry_id))
        if lost:
            # Only the MAXLEN safety bound deletes unacknowledged entries.
            log.error("%d outbox entries were trimmed before the transcript stored them", len(lost))
            await self._client.xack(self._stream, self._group, *lost)
        return items

    async def ack(self, items: list[OutboxItem]) -> None:
        receipts = [item.receipt for item in items]
        if not receipts:
            return
        try:
            async with (
                unavailable(self._timeout_s),
                self._client.pipeline(transaction=False) as pipe,
            ):
                pipe.xack(self._stream, self._group, *receipts)
                pipe.xdel(self._stream, *receipts)
                await pipe.execute()
        except BaseException:
            self._own_pending_unknown = True
            raise
        finally:
            # Unacknowledged after a failure: handed out again, which at-least-once allows.
            self._in_flight.difference_update(receipts)

    async def release(self, items: list[OutboxItem]) -> None:
        # Still pending to this consumer: the next take re-reads them from the pending list.
        self._in_flight.difference_update(item.receipt for item in items)
        if items:
            self._own_pending_unknown = True
            self._released.set()
