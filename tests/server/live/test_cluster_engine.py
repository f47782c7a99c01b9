"""What only the Redis Cluster engine has: partition tags, fencing a log that changed nodes, and
a real failover (a master SIGKILLed) under appends, subscribers and the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster as ClusterClient
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from protocol.events import UserRef
from server.live.keys import LiveKeys, partition_tags
from server.live.ports import Entry, LiveState, LiveStateUnavailable, LoggedEvent
from server.live.redis_engine import CLUSTER_PARTITIONS
from tests.support.redis_cluster import RedisCluster, redis_cluster

Harness = Any  # tests/server/live/conftest.py
Collector = Any

_SESSION_IDS = itertools.count(1)
# The gap fence_log (lua/log_lib.lua) leaves above a failed-over log's head.
_FENCE_GAP = 1000


def chat(n: int) -> str:
    return f'{{"type":"chat","ts":"2024-01-01T00:00:00.000Z","n":{n}}}'


@pytest.fixture
async def cluster_engine(live_cluster: RedisCluster) -> AsyncIterator[Harness]:
    from tests.server.live.conftest import Harness

    harness = Harness("cluster", live_cluster)
    try:
        yield harness
    finally:
        await harness.close()


def test_partition_tags_divide_the_slot_space_evenly() -> None:
    for partitions in (1, 3, 16, 64):
        tags = partition_tags(partitions)
        assert len(set(tags)) == partitions
        for index, tag in enumerate(tags):
            low = index * REDIS_CLUSTER_HASH_SLOTS // partitions
            high = (index + 1) * REDIS_CLUSTER_HASH_SLOTS // partitions
            assert low <= key_slot(tag.encode()) < high


def test_a_sessions_keys_outbox_and_channel_share_one_slot() -> None:
    keys = LiveKeys("studyroom", CLUSTER_PARTITIONS)
    for session_id in (1, 2, 42, 7_777, 2**40):
        names = [*keys.session_keys(session_id), keys.outbox_of(session_id)]
        names.append(keys.channel(session_id))
        assert len({key_slot(name.encode()) for name in names}) == 1, names
    # Sessions made one after another spread over the partitions (and so over the masters).
    assert len({keys.partition(session_id) for session_id in range(1, 13)}) == CLUSTER_PARTITIONS
    assert set(keys.outboxes) == {keys.outbox_of(s) for s in range(1, 1000)}


async def test_a_log_found_on_another_node_starts_a_new_epoch_above_its_head(
    cluster_engine: Harness,
) -> None:
    state = await cluster_engine.open()
    session = next(_SESSION_IDS)
    for n in range(5):
        await state.log.append(session, chat(n), persist=False)
    before = await state.log.window(session)
    await _written_by_another_node(cluster_engine, session)

    event = await state.log.append(session, chat(9), persist=False)

    after = await state.log.window(session)
    assert event.seq == 5 + _FENCE_GAP + 1
    assert after.epoch != before.epoch
    assert await state.log.read(session, 0) == [event]
    # Fenced once: the node is now the log's own.
    following = await state.log.append(session, chat(10), persist=False)
    assert following.seq == event.seq + 1
    assert (await state.log.window(session)).epoch == after.epoch


async def test_a_heartbeat_or_a_join_fences_a_log_too(cluster_engine: Harness) -> None:
    state = await cluster_engine.open()
    watched, joined = next(_SESSION_IDS), next(_SESSION_IDS)
    for session in (watched, joined):
        await state.log.append(session, chat(1), persist=False)
        await _written_by_another_node(cluster_engine, session)

    window = await state.log.window(watched)
    assert (window.head, window.first_seq) == (1 + _FENCE_GAP, 2 + _FENCE_GAP)

    user = UserRef(id=7, name="ada")
    body = '{"type":"presence","event":"join","user":{"id":7,"name":"ada"},"ts":"2024-01-01"}'
    entry = await state.door.enter(joined, "c1", user, body)
    assert isinstance(entry, Entry)
    assert entry.window.head == 1 + _FENCE_GAP
    assert entry.joined is not None and entry.joined.seq == 2 + _FENCE_GAP


async def _written_by_another_node(harness: Harness, session: int) -> None:
    """What a replica promoted over the log's master holds: the old master's id."""
    async with harness.admin() as client:
        await client.hset(harness.keys.meta(session), "node", "f" * 40)


async def test_a_master_killed_under_load_fails_over_without_reusing_a_number(
    collector: type[Collector],
) -> None:
    """A cluster of its own: killing a master leaves the shared one without a replica."""
    from tests.server.live.conftest import Harness

    with redis_cluster() as cluster:
        harness = Harness("cluster", cluster)
        try:
            await _fail_over_under_load(harness, cluster, collector)
        finally:
            await harness.close()


async def _fail_over_under_load(
    harness: Harness, cluster: RedisCluster, collector: type[Collector]
) -> None:
    writer = await harness.open(consumer="writer")
    reader = await harness.open(consumer="reader")
    sessions = list(range(1, 13))
    owners = await _owners(cluster, harness.keys, sessions)
    victim = cluster.master_at(next(iter(owners.values())))
    doomed = [s for s in sessions if owners[s] == victim.address]
    spared = [s for s in sessions if owners[s] != victim.address]
    assert doomed and spared
    seen = {session: collector() for session in sessions}
    for session in sessions:
        await reader.log.subscribe(session, seen[session])
    appended: dict[int, list[LoggedEvent]] = {session: [] for session in sessions}
    for n in range(5):
        for session in sessions:
            appended[session].append(await writer.log.append(session, chat(n), persist=True))
    # What the test then asserts is exact: the victim's writes reached its replica.
    victim.cli("WAIT", "1", "5000")

    stop = asyncio.Event()
    load = asyncio.create_task(_keep_appending(writer, sessions, appended, stop))
    await asyncio.sleep(0.3)
    cluster.kill(victim)
    cluster.wait_healthy()
    # Every session takes appends again, the failed-over ones included.
    marks = {session: len(appended[session]) for session in sessions}
    deadline = asyncio.get_running_loop().time() + 30
    while any(len(appended[s]) < marks[s] + 3 for s in sessions):
        assert asyncio.get_running_loop().time() < deadline, "appends did not come back"
        await asyncio.sleep(0.1)
    stop.set()
    await load

    for session in sessions:
        seqs = [event.seq for event in appended[session]]
        # Never a number twice, and never one lower than a number already handed out.
        assert seqs == sorted(set(seqs)), (session, seqs)
        gaps = [b - a for a, b in itertools.pairwise(seqs) if b - a != 1]
        if session in spared:
            assert gaps == [], (session, seqs)
        else:
            assert gaps and all(gap > _FENCE_GAP for gap in gaps), (session, seqs)
        # The subscriber of another process hears the session again, wherever it now lives.
        last = appended[session][-1]
        await seen[session].wait_until(lambda s=session, q=last.seq: q in seen[s].seqs, 15)

    # The outbox of every partition is read again; what was replicated is handed out.
    taken: set[tuple[int, int]] = set()
    deadline = asyncio.get_running_loop().time() + 20
    wanted = {(s, e.seq) for s in sessions for e in appended[s][:5]}
    while not wanted <= taken:
        assert asyncio.get_running_loop().time() < deadline, sorted(wanted - taken)[:5]
        with contextlib.suppress(LiveStateUnavailable):
            items = await reader.outbox.take(500, 0.5)
            taken |= {(item.session_id, item.seq) for item in items}
            await reader.outbox.ack(items)


async def _keep_appending(
    state: LiveState,
    sessions: list[int],
    appended: dict[int, list[LoggedEvent]],
    stop: asyncio.Event,
) -> None:
    """Append to every session in turn until told to stop; an append refused while a slot has
    no master is tried again later, as a room's member would send again."""
    n = 100
    while not stop.is_set():
        for session in sessions:
            n += 1
            try:
                appended[session].append(await state.log.append(session, chat(n), persist=True))
            except LiveStateUnavailable:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.01)


async def _owners(cluster: RedisCluster, keys: LiveKeys, sessions: list[int]) -> dict[int, str]:
    async with ClusterClient.from_url(cluster.seed_url) as client:
        return {s: client.get_node_from_key(keys.log(s)).name for s in sessions}


async def test_the_pipelined_commands_follow_a_slot_migrated_to_another_master() -> None:
    """ASK while the slot is being migrated, MOVED once it has been, on a cluster of its own."""
    from tests.server.live.conftest import Harness

    with redis_cluster() as cluster:
        harness = Harness("cluster", cluster)
        try:
            await _migrate_under_the_pipe(harness, cluster)
        finally:
            await harness.close()


async def _migrate_under_the_pipe(harness: Harness, cluster: RedisCluster) -> None:
    state = await harness.open()
    session = 1
    for n in range(3):
        await state.log.append(session, chat(n), persist=False)
    slot = key_slot(harness.keys.meta(session).encode())
    source = cluster.master_at((await _owners(cluster, harness.keys, [session]))[session])
    target = next(node for node in cluster.masters() if node is not source)
    source_id, target_id = (
        source.cli("CLUSTER", "MYID").strip(),
        target.cli("CLUSTER", "MYID").strip(),
    )
    target.cli("CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id)
    source.cli("CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id)

    # A key of the slot that the source does not hold is asked of the target (ASK): another
    # session of the same partition, whose gate nobody wrote.
    neighbour = next(
        s for s in range(2, 10_000) if harness.keys.partition(s) == harness.keys.partition(1)
    )
    assert await state.gates.check(neighbour, 7) is None

    keys = source.cli("CLUSTER", "GETKEYSINSLOT", str(slot), "1000").split()
    assert harness.keys.meta(session) in keys
    source.cli("MIGRATE", "127.0.0.1", str(target.port), "", "0", "5000", "KEYS", *keys)
    for node in cluster.masters():
        node.cli("CLUSTER", "SETSLOT", str(slot), "NODE", target_id)

    # The engine's map still names the source: the append is MOVED, and lands on the target,
    # which fences the log it now holds (a slot that changed nodes starts a new epoch).
    event = await state.log.append(session, chat(9), persist=False)
    assert event.seq == 3 + _FENCE_GAP + 1
    assert await state.log.read(session, 0) == [event]
    async with harness.admin() as client:
        assert client.get_node_from_key(harness.keys.meta(session)).port == target.port
