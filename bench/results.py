"""The run's results as JSON, and as the Markdown tables of ``bench/RESULTS.md``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

FLOOR = "websockets_redis"
SOCKETIO = "socketio"
STUDYROOM = "studyroom"
CLUSTER = "studyroom_cluster"
ORDER = (STUDYROOM, CLUSTER, FLOOR, SOCKETIO, "fastapi")
HEADLINE = "40x10"
# The reconnect storms with a time target: sockets → seconds from the drop to the last welcome.
STORM_LIMITS_S = {1000: 3.0, 5000: 12.0}
JOIN_VS_FLOOR = 2.0
UNTOUCHED_P99_MS = 50.0


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def succeeded(value: Any) -> bool:
    return isinstance(value, dict) and value.get("status") != "failed"


def dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _num(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, int | float):
        text = f"{value:,.{digits}f}"
        return f"{text} {unit}".rstrip()
    return str(value)


def _failed(value: Any) -> str:
    error = str(dig(value, "error") or "failed").splitlines()[0]
    return f"failed: {error[:120]}"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with studyroom's value, what it is compared against, and met or not."""
    systems = results.get("systems", {})
    ours = dig(systems, STUDYROOM, "fanout", HEADLINE, "cpu_us_per_delivery")
    floor = dig(systems, FLOOR, "fanout", HEADLINE, "cpu_us_per_delivery")
    sio = dig(systems, SOCKETIO, "fanout", HEADLINE, "cpu_us_per_delivery")
    p99 = dig(systems, STUDYROOM, "fanout", HEADLINE, "latency", "p99_ms")
    idle = dig(systems, STUDYROOM, "idle_memory", "points") or []
    per_conn = idle[-1]["pss_per_conn_kib"] if idle else None
    idle_at = idle[-1]["connections"] if idle else None
    extra = results.get(STUDYROOM, {})
    tutor = dig(extra, "tutor", "first_token_overhead_p50_ms")
    replay = dig(extra, "resume", "p50_ms")
    stalled = dig(systems, STUDYROOM, "slow_consumers", "p99_ratio")

    def ratio(a: Any, b: Any) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    join = ratio(
        dig(systems, STUDYROOM, "join", "cpu_ms_per_join"),
        dig(systems, FLOOR, "join", "cpu_ms_per_join"),
    )
    rows: list[tuple[str, Any, float, str] | tuple[str, Any, float, str, bool]] = [
        (
            "fan-out CPU per delivery vs websockets+Redis floor (40x10)",
            ratio(ours, floor),
            1.0,
            "x",
        ),
        ("fan-out CPU per delivery vs python-socketio (40x10)", ratio(ours, sio), 0.35, "x"),
        ("p99 publish-to-deliver at 4,000 deliveries/s (40x10)", p99, 25.0, "ms"),
        (f"memory per idle connection (PSS, {idle_at or '?'} connections)", per_conn, 20.0, "KiB"),
        ("tutor overhead, first token, p50", tutor, 5.0, "ms"),
        ("replay of 1,000 missed events, p50", replay, 50.0, "ms"),
        ("others' p99 with 5% of members stalled, vs without (40x10)", stalled, 2.0, "x"),
        ("join CPU per socket vs websockets+Redis floor", join, JOIN_VS_FLOOR, "x"),
        (
            "fan-out CPU per delivery on a Redis Cluster vs one Redis (40x10)",
            ratio(dig(systems, CLUSTER, "fanout", HEADLINE, "cpu_us_per_delivery"), ours),
            1.2,
            "x",
        ),
    ]
    for size, run in sorted(_storms(dig(systems, STUDYROOM, "storm")).items()):
        # A storm counts only when every socket came back and resumed.
        whole = not run.get("failed") and not run.get("not_resumed")
        if size in STORM_LIMITS_S:
            name = f"reconnect storm of {size:,}: drop → last resumed welcome"
            rows.append((name, run.get("storm_s"), STORM_LIMITS_S[size], "s", whole))
        p99 = dig(run, "untouched_during", "p99_ms")
        name = f"untouched rooms' p99 during the storm of {size:,}"
        rows.append((name, p99, UNTOUCHED_P99_MS, "ms"))
    return [_target(*row) for row in rows]


def _target(name: str, value: Any, limit: float, unit: str, whole: bool = True) -> dict[str, Any]:
    met = None if value is None else (value <= limit and whole)
    return {"target": name, "value": value, "limit": limit, "unit": unit, "met": met}


def _storms(storms: Any) -> dict[int, dict[str, Any]]:
    """The storms that ran, by size (skipped and failed ones left out)."""
    if not isinstance(storms, dict):
        return {}
    return {
        int(size): run
        for size, run in storms.items()
        if succeeded(run) and run.get("status") != "skipped"
    }


def storm_line(run: dict[str, Any]) -> str:
    """One storm's figures on one line, as the harness prints them."""
    if run.get("status") == "skipped":
        return f"storm of {run['sockets']:,} skipped: {run['reason']}"
    resumed = f", {run['resumed']} resumed, {run['not_resumed']} not" if "resumed" in run else ""
    before, during = run["untouched_before"], run["untouched_during"]
    return (
        f"storm of {run['sockets']:,}: last welcome {_num(run['storm_s'], 2, 's')} after the "
        f"drop ({run['reconnected']} back, {run['failed']} failed{resumed}, "
        f"{run['refused_then_retried']} refused then retried); server CPU "
        f"{_num(run['server_cpu_s'], 2, 's')} ({_num(run['cpu_ms_per_socket'], 2)} ms/socket); "
        f"untouched p50/p99 {_num(before['p50_ms'], 1)}/{_num(before['p99_ms'], 1)} ms before, "
        f"{_num(during['p50_ms'], 1)}/{_num(during['p99_ms'], 1)} ms during"
    )


def markdown(results: dict[str, Any]) -> str:
    meta = results.get("meta", {})
    machine = meta.get("machine", {})
    systems = results.get("systems", {})
    labels = {k: v.get("label", k) for k, v in systems.items()}
    out: list[str] = ["# Benchmark results", ""]
    out += [
        f"- **Date**: {meta.get('date')} ({meta.get('mode')} run, {meta.get('duration_s')} s)",
        f"- **Command**: `{meta.get('command')}`",
        f"- **Machine**: {machine.get('cpu')}, {machine.get('cores')} cores, "
        f"{machine.get('memory_gib')} GiB RAM, {machine.get('kernel')}, "
        f"Python {machine.get('python')}; PostgreSQL {dig(meta, 'services', 'postgres')}, "
        f"Redis {dig(meta, 'services', 'redis')}",
        f"- **Pinning**: servers on CPU {meta.get('server_core')}, the load generator on CPU "
        f"{meta.get('loadgen_core')} (Redis and PostgreSQL are not pinned); load average at "
        f"start {machine.get('load_average_at_start')}, at end {meta.get('load_average_at_end')}",
        "- **Packages**: "
        + ", ".join(f"{k} {v}" for k, v in machine.get("packages", {}).items() if v),
        "",
        "## Targets (studyroom)",
        "",
        "| target | studyroom | limit | met |",
        "| --- | --- | --- | --- |",
    ]
    for row in results.get("targets", []):
        met = "n/a" if row["met"] is None else ("met" if row["met"] else "**not met**")
        out.append(
            f"| {row['target']} | {_num(row['value'], 2, row['unit'])} "
            f"| ≤ {_num(row['limit'], 2, row['unit'])} | {met} |"
        )
    out += ["", *_fanout(systems, labels), *_slow(dig(systems, STUDYROOM, "slow_consumers"))]
    out += [*_ramp(systems, labels), *_idle(systems, labels)]
    out += [*_join(systems, labels), *_storm(systems, labels)]
    out += _studyroom_only(results.get(STUDYROOM, {}))
    out += _profile(dig(systems, STUDYROOM, "profile"))
    notes = meta.get("notes") or []
    if notes:
        out += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(out).rstrip() + "\n"


def ordered(systems: dict[str, Any]) -> list[str]:
    return [k for k in ORDER if k in systems] + [k for k in systems if k not in ORDER]


def _fanout(systems: dict[str, Any], labels: dict[str, str]) -> list[str]:
    out = [
        "## Fan-out",
        "",
        "Server CPU (user + system, children included) per delivered chat, over the steady "
        "window. Every shape offers 4,000 deliveries/s; `rooms x members @ rate` is chats per "
        "member per second.",
        "",
        "| shape | system | CPU µs / delivery | vs floor | deliveries/s | server CPU "
        "| p50 | p99 | Redis µs / delivery | PostgreSQL µs / delivery | load gen CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    shapes: list[str] = []
    for key in ordered(systems):
        for shape in dig(systems, key, "fanout") or {}:
            if shape not in shapes:
                shapes.append(shape)
    for shape in shapes:
        floor = dig(systems, FLOOR, "fanout", shape, "cpu_us_per_delivery")
        for key in ordered(systems):
            run = dig(systems, key, "fanout", shape)
            if run is None:
                if dig(systems, key, "status") == "failed":
                    out.append(f"| {shape} | {labels[key]} | {_failed(systems[key])} |")
                continue
            if not succeeded(run):
                out.append(f"| {shape} | {labels[key]} | {_failed(run)} |")
                continue
            rate = dig(run, "shape", "per_member_rate")
            cost = run.get("cpu_us_per_delivery")
            versus = f"{cost / floor:.2f}x" if cost and floor else "n/a"
            out.append(
                f"| {shape} @ {rate:g}/s | {labels[key]} | {_num(cost, 1)} | {versus} "
                f"| {_num(run.get('deliveries_per_s'), 0)} "
                f"| {_num(100 * run.get('server_cpu_util', 0), 0, '%')} "
                f"| {_num(dig(run, 'latency', 'p50_ms'), 2, 'ms')} "
                f"| {_num(dig(run, 'latency', 'p99_ms'), 2, 'ms')} "
                f"| {_num(run.get('redis_cpu_us_per_delivery'), 1)} "
                f"| {_num(run.get('postgres_cpu_us_per_delivery'), 1)} "
                f"| {_num(100 * run.get('loadgen_cpu_util', 0), 0, '%')} |"
            )
    return [*out, ""]


def _ramp(systems: dict[str, Any], labels: dict[str, str]) -> list[str]:
    out = [
        "## Highest delivery rate holding p99 < 100 ms",
        "",
        "The 40x10 shape with the per-member rate raised step by step; a step fails on p99 ≥ "
        "100 ms, fewer than 95 % of the deliveries, an error frame or a closed connection. "
        "'≥' means the load generator, not the server, ran out of CPU first. Loop lag: how late "
        "studyroom's event loop woke a 50 ms timer (`studyroom_event_loop_lag_seconds`), p99 and "
        "worst as histogram bucket bounds, at the rate held and at the first rate that failed.",
        "",
        "| system | deliveries/s | server CPU at that rate | loop lag p99 / worst | stopped by |"
        " first failed step: deliveries/s, CPU, loop lag p99 / worst |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key in ordered(systems):
        ramp = dig(systems, key, "ramp")
        if ramp is None:
            continue
        if not succeeded(ramp):
            out.append(f"| {labels[key]} | {_failed(ramp)} | | | | |")
            continue
        best = ramp.get("max_deliveries_per_s")
        steps = ramp.get("steps", [])
        held = next((s for s in steps if s.get("deliveries_per_s") == best), None)
        cpu = held["server_cpu_util"] * 100 if held else None
        mark = "≥ " if ramp.get("lower_bound") and best else ""
        # The lowest rate that failed: where the latency gave out, and how busy the loop was.
        failed = min(
            (
                s
                for s in steps
                if s.get("per_member_rate", 0) > (ramp.get("max_per_member_rate") or 0)
            ),
            key=lambda s: s["per_member_rate"],
            default=None,
        )
        beyond = ""
        if failed:
            cpu_failed = _num(100 * failed["server_cpu_util"], 0, "%")
            beyond = f"{_num(failed['deliveries_per_s'], 0)}, {cpu_failed}, {_lag(failed)}"
        out.append(
            f"| {labels[key]} | {mark}{_num(best, 0)} | {_num(cpu, 0, '%')} | {_lag(held)} "
            f"| {ramp.get('stopped_by')} | {beyond} |"
        )
    return [*out, ""]


def _lag(step: dict[str, Any] | None) -> str:
    lag = (step or {}).get("loop_lag")
    if not lag or not lag.get("samples"):
        return "n/a"

    def bound(ms: float | None) -> str:
        return f"≤ {_num(ms, 1)}" if ms is not None else "> 2,500"  # past the top bucket

    return f"{bound(lag['p99_le_ms'])} / {bound(lag['max_le_ms'])} ms"


def _slow(slow: Any) -> list[str]:
    if slow is None:
        return []
    out = ["## Slow consumers (studyroom)", ""]
    if not succeeded(slow):
        return [*out, _failed(slow), ""]
    base, loaded = slow["baseline"], slow["with_stalled"]
    out += [
        f"The 40x10 load, then the same with {slow['stalled']} members (5%) no longer reading. "
        "The others' latency should not notice; the server closes a stalled socket with 4008 "
        "once its buffers for it are full.",
        "",
        "| window | deliveries/s | p50 | p99 | server CPU |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, w in (("baseline", base), ("5% stalled", loaded)):
        lat = w["latency"]
        out.append(
            f"| {name} | {_num(w['deliveries_per_s'], 0)} | {_num(lat['p50_ms'], 2, 'ms')} "
            f"| {_num(lat['p99_ms'], 2, 'ms')} | {_num(100 * w['server_cpu_util'], 0, '%')} |"
        )
    out += [
        "",
        f"p99 with stalled members / baseline: **{_num(slow['p99_ratio'], 2, 'x')}** "
        f"(target ≤ 2x); stalled sockets closed with 4008 after {slow['observed_for_s']} s: "
        f"{slow['closed_with_4008']} of {slow['stalled']}.",
        "",
    ]
    return out


def _idle(systems: dict[str, Any], labels: dict[str, str]) -> list[str]:
    out = [
        "## Memory per idle connection",
        "",
        "Growth of the server's RSS and PSS (children included) over a baseline with 20 "
        "connections open, divided by the connections added, in rooms of 10.",
        "",
        "| system | connections | PSS KiB / conn | RSS KiB / conn | server RSS | idle CPU | "
        "connect time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in ordered(systems):
        idle = dig(systems, key, "idle_memory")
        if idle is None:
            continue
        if not succeeded(idle):
            out.append(f"| {labels[key]} | {_failed(idle)} | | | | | |")
            continue
        for point in idle.get("points", []):
            out.append(
                f"| {labels[key]} | {point['connections']:,} | {_num(point['pss_per_conn_kib'])} "
                f"| {_num(point['rss_per_conn_kib'])} | {_num(point['rss_kib'] / 1024, 0)} MiB "
                f"| {_num(100 * point['idle_cpu_util'], 1, '%')} | {_num(point['connect_s'])} s |"
            )
    return [*out, ""]


def _join(systems: dict[str, Any], labels: dict[str, str]) -> list[str]:
    runs = {k: dig(systems, k, "join") for k in ordered(systems)}
    runs = {k: v for k, v in runs.items() if v is not None}
    if not runs:
        return []
    floor = dig(runs, FLOOR, "cpu_ms_per_join")
    out = [
        "## Join cost",
        "",
        "Sockets joining rooms of 10, 50 connecting at a time, after a baseline of 20. CPU: the "
        "server's (children included) from the first connect to 1 s after the last first "
        "frame, less its idle rate, per socket. Each join is timed from its connect to its "
        "first frame: studyroom's `welcome` (after the full admission), the floor's hello "
        f"(once its room's channel is subscribed). Target: at most {JOIN_VS_FLOOR:g}x the floor.",
        "",
        "| system | sockets | CPU ms / join | vs floor | wall time | joins/s | p50 | p99 "
        "| Redis ms / join | PostgreSQL ms / join |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, run in runs.items():
        if not succeeded(run):
            out.append(f"| {labels[key]} | {_failed(run)} |")
            continue
        cost = run.get("cpu_ms_per_join")
        versus = f"{cost / floor:.2f}x" if cost and floor else "n/a"
        if key == STUDYROOM and cost and floor:
            versus += " (met)" if cost / floor <= JOIN_VS_FLOOR else " (**not met**)"
        out.append(
            f"| {labels[key]} | {run['sockets']:,} | {_num(cost, 2)} | {versus} "
            f"| {_num(run['wall_s'], 2, 's')} | {_num(run['joins_per_s'], 0)} "
            f"| {_num(run['join_p50_ms'], 1, 'ms')} | {_num(run['join_p99_ms'], 1, 'ms')} "
            f"| {_num(run.get('redis_cpu_ms_per_join'), 2)} "
            f"| {_num(run.get('postgres_cpu_ms_per_join'), 2)} |"
        )
    counters = dig(runs, STUDYROOM, "server_counters")
    if counters:
        shown = ", ".join(f"`{k}` +{v:g}" for k, v in counters.items())
        out += ["", f"studyroom's counters over the joins: {shown}."]
    return [*out, ""]


def _storm(systems: dict[str, Any], labels: dict[str, str]) -> list[str]:
    runs = {k: dig(systems, k, "storm") for k in ordered(systems)}
    runs = {k: v for k, v in runs.items() if isinstance(v, dict) and v}
    if not runs:
        return []
    out = [
        "## Reconnect storm",
        "",
        "Storm sockets in rooms of 10 join and see one chat from every member; 10 untouched "
        "rooms of 10 carry 1 chat per member per second throughout. Every storm socket's TCP "
        "connection is aborted at once (no close handshake) and all reconnect at once, "
        "studyroom's with `last_seq` and `epoch`. Time: the drop → the last `welcome` (the "
        "floor: hello). A 1013 is tried again after its `retry_after_ms` (else 100 ms) plus "
        "jitter. Server CPU: from the drop to the last welcome. Untouched p50/p99: deliveries "
        "in a steady window (3 s, 2 s quick) just before the drop, and from the drop to 0.5 s "
        "after the last welcome. Targets (studyroom): "
        + ", ".join(f"{n:,} sockets ≤ {s:g} s" for n, s in STORM_LIMITS_S.items())
        + f", untouched p99 ≤ {UNTOUCHED_P99_MS:g} ms, every socket resumed.",
        "",
        "| sockets | system | drop → last welcome | target | back / failed | resumed / not "
        "| refused then retried | server CPU | CPU ms / socket | untouched before p50 / p99 "
        "| untouched during p50 / p99 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    sizes = sorted({int(n) for run in runs.values() for n in run}, key=int)
    for size in sizes:
        for key, storms in runs.items():
            run = storms.get(str(size))
            if run is None:
                continue
            if not succeeded(run):
                out.append(f"| {size:,} | {labels[key]} | {_failed(run)} |")
                continue
            if run.get("status") == "skipped":
                out.append(f"| {size:,} | {labels[key]} | skipped: {run['reason']} |")
                continue
            out.append(_storm_row(size, key, labels[key], run))
    return [*out, ""]


def _storm_row(size: int, key: str, label: str, run: dict[str, Any]) -> str:
    target = "n/a"
    if key == STUDYROOM:
        whole = not run.get("failed") and not run.get("not_resumed")
        limit = STORM_LIMITS_S.get(size)
        time_ok = limit is None or (run["storm_s"] is not None and run["storm_s"] <= limit)
        p99 = dig(run, "untouched_during", "p99_ms")
        p99_ok = p99 is not None and p99 <= UNTOUCHED_P99_MS
        target = "met" if whole and time_ok and p99_ok else "**not met**"
        if limit is None:
            target += " (p99 only)"
    resumed = f"{run['resumed']:,} / {run['not_resumed']:,}" if "resumed" in run else "n/a"
    before, during = run["untouched_before"], run["untouched_during"]
    util = 100 * (run["server_cpu_util"] or 0)
    return (
        f"| {size:,} | {label} | {_num(run['storm_s'], 2, 's')} | {target} "
        f"| {run['reconnected']:,} / {run['failed']:,} | {resumed} "
        f"| {run['refused_then_retried']:,} ({run['refusals']:,} refusals) "
        f"| {_num(run['server_cpu_s'], 2, 's')} ({_num(util, 0, '%')}) "
        f"| {_num(run['cpu_ms_per_socket'], 2)} "
        f"| {_num(before['p50_ms'], 1)} / {_num(before['p99_ms'], 1)} ms "
        f"| {_num(during['p50_ms'], 1)} / {_num(during['p99_ms'], 1)} ms |"
    )


def _studyroom_only(extra: dict[str, Any]) -> list[str]:
    out: list[str] = []
    tutor = extra.get("tutor")
    if tutor is not None:
        out += ["## Tutor overhead (ScriptedOpenAI)", ""]
        if not succeeded(tutor):
            out += [_failed(tutor), ""]
        else:
            room, sdk = tutor["studyroom"], tutor["direct"]
            script = tutor["script"]
            out += [
                f"{tutor['turns']} turns after 3 warm-up turns; the model streams "
                f"{script['tokens']} tokens {script['token_gap_ms']:g} ms apart. First token: "
                "the model hands its first token to its socket → it arrives (as `agent.delta` "
                "at a room member, or from the openai SDK's stream). Whole turn: ask sent → "
                "`agent.done` at a member, or request → end of stream.",
                "",
                "| measurement | through studyroom p50 / p99 | openai SDK direct p50 / p99 | "
                "overhead (p50) |",
                "| --- | --- | --- | --- |",
            ]
            for key, name, over in (
                ("first_token", "first token", tutor["first_token_overhead_p50_ms"]),
                ("whole_turn", "whole turn", tutor["whole_turn_overhead_p50_ms"]),
            ):
                out.append(
                    f"| {name} | {_num(room[key]['p50_ms'], 2)} / {_num(room[key]['p99_ms'], 2)} "
                    f"ms | {_num(sdk[key]['p50_ms'], 2)} / {_num(sdk[key]['p99_ms'], 2)} ms "
                    f"| {_num(over, 2)} ms |"
                )
            out.append("")
    resume = extra.get("resume")
    if resume is not None:
        out += ["## Resume", ""]
        if not succeeded(resume):
            out += [_failed(resume), ""]
        else:
            out += [
                f"A member reconnects with `last_seq` and `epoch` after "
                f"{resume['missed_events']:,} events; {resume['repeats']} reconnects, each "
                f"replaying {resume['replayed_events']:,} events. Connect → 1,000th replayed "
                f"event: **p50 {_num(resume['p50_ms'], 1)} ms, p99 {_num(resume['p99_ms'], 1)} "
                f"ms** (connect → `welcome`: p50 {_num(resume['welcome_p50_ms'], 1)} ms).",
                "",
            ]
    rest = extra.get("rest")
    if rest is not None:
        out += ["## REST on PostgreSQL", ""]
        if not succeeded(rest):
            out += [_failed(rest), ""]
        else:
            out += [
                f"{rest['concurrency']} closed-loop clients for {rest['duration_s']:g} s per "
                "endpoint, keep-alive connections.",
                "",
                "| endpoint | requests/s | p50 | p99 | server CPU / request | statuses |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for key, name in (
                ("post_topics", "POST /api/topics"),
                ("get_sessions_current", "GET /api/sessions/current"),
            ):
                run = rest[key]
                out.append(
                    f"| {name} | {_num(run['requests_per_s'], 0)} | {_num(run['p50_ms'], 1)} ms "
                    f"| {_num(run['p99_ms'], 1)} ms "
                    f"| {_num(run.get('server_cpu_ms_per_request'), 2, 'ms')} "
                    f"| {run['statuses']} |"
                )
            out.append("")
    report = extra.get("report")
    if report is not None:
        out += ["## Session report", ""]
        if not succeeded(report):
            out += [_failed(report), ""]
        else:
            out += [
                f"`GET /api/sessions/{{id}}/report` over {report['events']:,} events "
                f"({report['table_size']} with indexes), {report['calls']} sequential calls "
                f"(`bench/report_bench.py`): median {_num(report['median_ms'])} ms, p95 "
                f"{_num(report['p95_ms'])} ms, min {_num(report['min_ms'])} ms, max "
                f"{_num(report['max_ms'])} ms.",
                "",
            ]
    return out


def _profile(profile: Any) -> list[str]:
    if profile is None:
        return []
    out = ["## Where studyroom's CPU goes (py-spy, 40x10 at 4,000 deliveries/s)", ""]
    if not succeeded(profile):
        return [*out, _failed(profile), ""]
    out += [
        f"{profile['samples']:,} samples of the server's threads while busy. 'Own' is the "
        "innermost Python frame; time in the event loop's C code (socket I/O, callbacks) shows "
        "as `Runner.run`.",
        "",
        "| own time | function |",
        "| --- | --- |",
    ]
    out += [f"| {100 * r['share']:.1f} % | `{r['function']}` |" for r in profile["self"][:15]]
    out += ["", "| inclusive | studyroom function |", "| --- | --- |"]
    out += [
        f"| {100 * r['share']:.1f} % | `{r['function']}` |"
        for r in profile.get("studyroom_inclusive", [])[:20]
    ]
    return [*out, ""]
