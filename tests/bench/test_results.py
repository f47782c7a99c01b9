"""The benchmark's targets, computed from results as values."""

from __future__ import annotations

from bench import results


def _fanout(cpu_us: float) -> dict[str, object]:
    return {"fanout": {"40x10": {"cpu_us_per_delivery": cpu_us}}}


def test_the_cluster_target_compares_the_cluster_with_one_redis() -> None:
    name = "fan-out CPU per delivery on a Redis Cluster vs one Redis (40x10)"
    slow = {"systems": {"studyroom": _fanout(50.0), "studyroom_cluster": _fanout(65.0)}}
    row = next(row for row in results.targets(slow) if row["target"] == name)
    assert (row["value"], row["limit"], row["met"]) == (1.3, 1.2, False)
    fast = {"systems": {"studyroom": _fanout(50.0), "studyroom_cluster": _fanout(55.0)}}
    assert next(row for row in results.targets(fast) if row["target"] == name)["met"] is True
    alone = {"systems": {"studyroom": _fanout(50.0)}}
    assert next(row for row in results.targets(alone) if row["target"] == name)["met"] is None
