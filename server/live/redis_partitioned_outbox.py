"""The transcript outbox on a Redis Cluster: one consumer group per partition stream.

Each partition is a :class:`RedisOutbox` on its own stream (in its own slot, beside the rooms
whose events it queues), read under this process's one consumer name, so every guarantee of
the one-stream outbox holds per partition: at-least-once, a dead consumer's entries claimed by
the others, released entries handed out first.

Waiting for new entries cannot be one blocking read: a blocking XREADGROUP names streams of one
slot only. So each partition keeps one read of its own in flight (``_reads``), and ``take``
returns what the first of them brings; the others stay in flight for the next ``take`` rather
than being cut off, which would cost each its connection. Entries read beyond what a ``take``
asked for wait in ``_ready`` (pending to this consumer, as any entry taken and not yet acked).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from server.live.ports import OutboxItem
from server.live.redis_outbox import RedisOutbox

# A receipt names the partition it came from: entry ids of two streams may be equal.
_RECEIPT_SEP = "/"


class PartitionedOutbox:
    def __init__(self, partitions: list[RedisOutbox]) -> None:
        if not partitions:
            raise ValueError("a partitioned outbox needs at least one partition")
        self._partitions = partitions
        self._reads: dict[int, asyncio.Task[list[OutboxItem]]] = {}
        self._ready: deque[OutboxItem] = deque()
        # Partitions with released entries: read again at once, without waiting.
        self._released: set[int] = set()
        self._woken = asyncio.Event()
        # Where the next non-blocking pass starts, so no partition is always served last.
        self._start = 0

    async def create_group(self) -> None:
        for partition in self._partitions:
            await partition.create_group()

    async def take(self, max_items: int, wait_s: float) -> list[OutboxItem]:
        if max_items <= 0:
            return []
        self._collect()
        if len(self._ready) < max_items:
            await self._read_released(max_items)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while not self._ready:
            self._woken.clear()
            remaining = max(0.0, deadline - loop.time())
            fresh = self._start_reads(max_items, remaining)
            woken = asyncio.ensure_future(self._woken.wait())
            try:
                # A read this take started ends within ``remaining``; reads an earlier take
                # started may wait longer than this one may.
                await asyncio.wait(
                    [*self._reads.values(), woken],
                    timeout=None if fresh else remaining,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                woken.cancel()
            self._collect()
            if not self._ready and self._released:
                await self._read_released(max_items)
            if loop.time() >= deadline:
                break
        return [self._ready.popleft() for _ in range(min(max_items, len(self._ready)))]

    def _start_reads(self, max_items: int, wait_s: float) -> bool:
        """A read on every partition that has none in flight; whether any was started."""
        started = False
        for index, partition in enumerate(self._partitions):
            if index not in self._reads:
                reading = self._tagged(index, partition.take(max_items, wait_s))
                self._reads[index] = asyncio.ensure_future(reading)
                started = True
        return started

    async def _read_released(self, max_items: int) -> None:
        """Released entries come back first and without waiting (a read in flight on their
        partition was ended by the release and brings them)."""
        count = len(self._partitions)
        for offset in range(count):
            index = (self._start + offset) % count
            if index not in self._released or index in self._reads:
                continue
            self._released.discard(index)
            items = await self._partitions[index].take(max_items - len(self._ready), 0.0)
            self._ready.extend(self._tag(index, items))
            if len(self._ready) >= max_items:
                break
        self._start = (self._start + 1) % count

    def _collect(self) -> None:
        """Move what finished reads brought to ``_ready``; a failed read raises here."""
        failure: BaseException | None = None
        for index, task in list(self._reads.items()):
            if not task.done():
                continue
            del self._reads[index]
            if task.cancelled():
                continue
            error = task.exception()
            if error is not None:
                failure = failure or error
                continue
            self._ready.extend(task.result())
        if failure is not None:
            raise failure

    async def _tagged(
        self, index: int, reading: Coroutine[Any, Any, list[OutboxItem]]
    ) -> list[OutboxItem]:
        return self._tag(index, await reading)

    @staticmethod
    def _tag(index: int, items: list[OutboxItem]) -> list[OutboxItem]:
        return [replace(item, receipt=f"{index}{_RECEIPT_SEP}{item.receipt}") for item in items]

    def _by_partition(self, items: list[OutboxItem]) -> dict[int, list[OutboxItem]]:
        grouped: dict[int, list[OutboxItem]] = {}
        for item in items:
            index, _, receipt = item.receipt.partition(_RECEIPT_SEP)
            grouped.setdefault(int(index), []).append(replace(item, receipt=receipt))
        return grouped

    async def ack(self, items: list[OutboxItem]) -> None:
        failure: BaseException | None = None
        for index, group in self._by_partition(items).items():
            try:
                await self._partitions[index].ack(group)
            except Exception as exc:
                # The other partitions' entries are still acknowledged; these come back.
                failure = failure or exc
        if failure is not None:
            raise failure

    async def release(self, items: list[OutboxItem]) -> None:
        for index, group in self._by_partition(items).items():
            await self._partitions[index].release(group)
            self._released.add(index)
        if items:
            self._woken.set()

    async def close(self) -> None:
        """Stop the reads in flight; what they held stays pending to this consumer."""
        for task in self._reads.values():
            task.cancel()
        for task in self._reads.values():
            with contextlib.suppress(BaseException):
                await task
        self._reads.clear()
