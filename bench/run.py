"""The benchmark harness: studyroom beside its peers, in one run, on one machine.

    scripts/bench             # the full run (about 20 minutes)
    scripts/bench --quick     # a smoke run (about 3 minutes)

This process is the one load generator (asyncio on uvloop, raw WebSocket clients); it runs on
CPU ``--loadgen-core`` and starts each server under test pinned to ``--server-core``. See
bench/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from bench import fanout, machine, plot, procs, report_bench, results, scratch
from bench.idle_memory import idle_memory
from bench.join import join_cost
from bench.loadgen import Fleet
from bench.profile import record, summarise
from bench.rest import rest_latency
from bench.resume import resume
from bench.storm import storm
from bench.systems import ALL, Context, Studyroom, System
from bench.tutor import TimedScriptedOpenAI, tutor_overhead
from tests.support.pool import RoomPool

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DEFAULT_OUT = BENCH / "results"


@dataclass(frozen=True)
class Plan:
    grid: tuple[fanout.Shape, ...]
    warmup_s: float
    window_s: float
    ramp_max_rate: float
    ramp_refinements: int
    ramp_warmup_s: float
    ramp_window_s: float
    idle_counts: tuple[int, ...]
    idle_settle_s: float
    tutor_turns: int
    resume_repeats: int
    rest_concurrency: int
    rest_s: float
    report_events: int
    report_calls: int
    profile_s: float
    join_sockets: int
    storm_sizes: tuple[int, ...]
    storm_warmup_s: float
    storm_before_s: float


FULL = Plan(
    grid=fanout.GRID,
    warmup_s=3.0,
    window_s=8.0,
    ramp_max_rate=fanout.RAMP_MAX_RATE,
    ramp_refinements=2,
    ramp_warmup_s=1.5,
    ramp_window_s=3.0,
    idle_counts=(1000, 5000),
    idle_settle_s=2.0,
    tutor_turns=40,
    resume_repeats=30,
    rest_concurrency=32,
    rest_s=10.0,
    report_events=100_000,
    report_calls=20,
    profile_s=10.0,
    join_sockets=1000,
    storm_sizes=(1000, 5000),
    storm_warmup_s=1.5,
    storm_before_s=3.0,
)
QUICK = replace(
    FULL,
    grid=(fanout.HEADLINE,),
    warmup_s=1.5,
    window_s=3.0,
    ramp_max_rate=2.0,
    ramp_refinements=0,
    ramp_warmup_s=1.0,
    ramp_window_s=2.0,
    idle_counts=(1000,),
    idle_settle_s=1.0,
    tutor_turns=10,
    resume_repeats=5,
    rest_s=2.0,
    report_events=10_000,
    report_calls=5,
    profile_s=5.0,
    join_sockets=300,
    storm_sizes=(300,),
    storm_warmup_s=1.0,
    storm_before_s=2.0,
)
PHASES = ("idle", "fanout", "slow", "ramp", "join", "storm", "tutor", "resume", "rest", "report")


def say(message: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    print(f"{stamp} {message}", flush=True)


class Run:
    def __init__(self, args: argparse.Namespace, plan: Plan, log_dir: Path) -> None:
        self.args = args
        self.plan = plan
        self.log_dir = log_dir
        self.phases = set(args.phases.split(",")) if args.phases else set(PHASES)
        self._failures = 0

    def _keep_traceback(self, name: str) -> None:
        self._failures += 1
        path = self.log_dir / f"error-{self._failures:02d}-{name}.txt"
        path.write_text(traceback.format_exc())

    async def attempt(
        self, into: dict[str, Any], key: str, work: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Run one measurement; a failure is recorded in ``into[key]`` and the run goes on."""
        say(f"  {key} …")
        began = time.monotonic()
        try:
            into[key] = await work()
        except Exception as exc:
            self._keep_traceback(key)
            into[key] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:2000]}
            say(f"  {key} FAILED: {type(exc).__name__}: {str(exc)[:300]}")
            return None
        say(f"  {key} done in {time.monotonic() - began:.0f} s")
        return into[key]

    async def _fresh(self, system: System) -> None:
        await system.stop()
        await system.start()

    async def system(self, system: System, redis_pid: int | None) -> dict[str, Any]:
        plan = self.plan
        out: dict[str, Any] = {"label": system.label}
        say(f"{system.label}")

        def probe() -> fanout.Probe:
            redis = redis_pid if system.uses_redis else None
            if not isinstance(system, Studyroom):
                return fanout.Probe(system.pid, redis)
            space = system.ctx.scratch
            return fanout.Probe(
                system.pid, redis, space.admin_dsn, space.name, metrics_port=system.port
            )

        try:
            await system.start()
            if "idle" in self.phases and (system.key == "studyroom" or not self.args.quick):
                await self.attempt(
                    out,
                    "idle_memory",
                    lambda: idle_memory(
                        system, plan.idle_counts, settle_s=plan.idle_settle_s, idle_cpu_s=3.0
                    ),
                )
                # Fan-out is measured on a server that never held thousands of sockets.
                await self._fresh(system)
            if "fanout" in self.phases:
                grid: dict[str, Any] = {}
                out["fanout"] = grid
                for shape in plan.grid:
                    await self._alive(system)
                    await self.attempt(
                        grid,
                        shape.name,
                        lambda shape=shape: fanout.shape_run(  # type: ignore[misc]
                            system, probe(), shape, plan.warmup_s, plan.window_s
                        ),
                    )
            if "slow" in self.phases and system.key == "studyroom":
                await self._alive(system)
                await self.attempt(
                    out,
                    "slow_consumers",
                    lambda: fanout.slow_consumers(
                        system, probe(), fanout.HEADLINE, plan.warmup_s, plan.window_s
                    ),
                )
            if self.args.profile and isinstance(system, Studyroom):
                await self._alive(system)
                await self.attempt(out, "profile", lambda: self.profile(system))
            if "ramp" in self.phases:
                await self._alive(system)
                await self.attempt(
                    out,
                    "ramp",
                    lambda: fanout.ramp(
                        system,
                        probe(),
                        plan.ramp_max_rate,
                        plan.ramp_refinements,
                        plan.ramp_warmup_s,
                        plan.ramp_window_s,
                    ),
                )
            used = bool({"idle", "fanout", "slow", "ramp"} & self.phases) or self.args.profile
            if "join" in self.phases:
                # Joins and storms are measured on a server that carried no earlier phase.
                await (self._fresh(system) if used else self._alive(system))
                used = True
                joined = await self.attempt(
                    out, "join", lambda: join_cost(system, probe(), plan.join_sockets)
                )
                if joined:
                    say(
                        f"    {joined['sockets']} joins in {joined['wall_s']} s: "
                        f"{joined['cpu_ms_per_join']} ms CPU per join, p50 "
                        f"{joined['join_p50_ms']} ms, p99 {joined['join_p99_ms']} ms"
                    )
            if "storm" in self.phases:
                storms: dict[str, Any] = {}
                out["storm"] = storms
                for size in self.storm_sizes():
                    await (self._fresh(system) if used else self._alive(system))
                    used = True
                    done = await self.attempt(
                        storms,
                        str(size),
                        lambda size=size: storm(  # type: ignore[misc]
                            system,
                            probe(),
                            size,
                            warmup_s=plan.storm_warmup_s,
                            before_s=plan.storm_before_s,
                        ),
                    )
                    if done:
                        say(f"    {results.storm_line(done)}")
        except Exception as exc:
            self._keep_traceback(system.key)
            out.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
            say(f"  {system.key} FAILED: {type(exc).__name__}: {str(exc)[:300]}")
        finally:
            await system.close()
        return out

    def storm_sizes(self) -> tuple[int, ...]:
        if self.args.storm_size:
            return tuple(int(n) for n in self.args.storm_size.split(","))
        return self.plan.storm_sizes

    async def _alive(self, system: System) -> None:
        """A server that died in an earlier phase is started again for the next one."""
        if system.server is None or not system.server.alive():
            say(f"  {system.key} is not running; starting it again")
            await system.stop()
            await system.start()

    async def profile(self, system: System) -> dict[str, Any]:
        shape = fanout.HEADLINE
        fleet = Fleet(system.dialect)
        try:
            await fleet.open(await system.seats(shape.rooms, shape.members))
            driver = asyncio.create_task(fleet.drive(shape.chats_per_s))
            try:
                await asyncio.sleep(self.plan.warmup_s)
                out = self.log_dir / f"profile-{system.key}.txt"
                await record(system.pid, self.plan.profile_s, out, self.args.loadgen_core)
            finally:
                driver.cancel()
        finally:
            await fleet.close()
        say(f"  collapsed stacks: {out}")
        return summarise(out)

    async def studyroom_extras(
        self, system: Studyroom, model: TimedScriptedOpenAI
    ) -> dict[str, Any]:
        plan = self.plan
        out: dict[str, Any] = {}

        def setup() -> RoomPool:
            assert system.setup is not None, "studyroom is not running"
            return system.setup

        wanted = {"tutor", "resume", "rest"} & self.phases
        if wanted:
            say("studyroom: tutor, resume, REST")
            try:
                await system.start()
                if "tutor" in wanted:
                    await self.attempt(
                        out, "tutor", lambda: tutor_overhead(model, setup(), plan.tutor_turns)
                    )
                if "resume" in wanted:
                    await self._alive(system)
                    await self.attempt(
                        out, "resume", lambda: resume(setup(), 1000, plan.resume_repeats)
                    )
                if "rest" in wanted:
                    await self._alive(system)
                    await self.attempt(
                        out,
                        "rest",
                        lambda: rest_latency(
                            setup(), system.pid, plan.rest_concurrency, plan.rest_s
                        ),
                    )
            except Exception as exc:
                # The server did not start (or died between phases): what did not run failed.
                self._keep_traceback("studyroom")
                error = f"{type(exc).__name__}: {exc}"[:2000]
                for phase in wanted - out.keys():
                    out[phase] = {"status": "failed", "error": error}
                say(f"  studyroom FAILED: {error:.300}")
            finally:
                await system.stop()
        if "report" in self.phases:
            await self.attempt(
                out,
                "report",
                lambda: report_bench.run(
                    plan.report_events,
                    plan.report_calls,
                    self.args.admin_dsn,
                    core=self.args.server_core,
                    say=lambda m: say(f"    {m}"),
                ),
            )
        return out


def _pin(core: int) -> None:
    if os.sched_getaffinity(0) != {core}:
        # Not started through scripts/bench's taskset: pin ourselves the same way.
        os.sched_setaffinity(0, {core})


async def main(args: argparse.Namespace) -> int:
    cpus = os.cpu_count() or 1
    if cpus < 2 or args.server_core == args.loadgen_core:
        print("the benchmark needs two CPUs: one for the server, one for the load generator")
        return 2
    _pin(args.loadgen_core)
    procs.raise_nofile()
    plan = QUICK if args.quick else FULL
    log_dir = Path(tempfile.mkdtemp(prefix="studyroom-bench-"))
    command = "scripts/bench " + shlex.join(sys.argv[1:]) if len(sys.argv) > 1 else "scripts/bench"
    began = time.monotonic()
    say(f"{'quick' if args.quick else 'full'} run; server logs in {log_dir}")
    data: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": command.strip(),
            "mode": "quick" if args.quick else "full",
            "machine": machine.describe(),
            "server_core": args.server_core,
            "loadgen_core": args.loadgen_core,
            "plan": {k: v for k, v in plan.__dict__.items() if k != "grid"}
            | {"grid": [s.__dict__ for s in plan.grid]},
            "log_dir": str(log_dir),
            "notes": [],
        },
        "systems": {},
        "studyroom": {},
    }
    redis_base = args.redis
    data["meta"]["services"] = await machine.service_versions(
        args.admin_dsn, f"{redis_base}/{args.redis_db}"
    )
    run = Run(args, plan, log_dir)
    space: scratch.Scratch | None = None
    model = TimedScriptedOpenAI()
    try:
        space = await scratch.create(args.admin_dsn, redis_base, args.redis_db)
        await model.start()
        ctx = Context(ROOT, log_dir, space, args.server_core, model.base_url)
        redis_pid = procs.redis_pid(space.redis_url)
        if redis_pid is None:
            data["meta"]["notes"].append("Redis is not local: its CPU is not reported.")
        keys = args.systems.split(",") if args.systems else list(ALL)
        for key in keys:
            data["systems"][key] = await run.system(ALL[key](ctx), redis_pid)
        if "studyroom" in keys:
            data["studyroom"] = await run.studyroom_extras(Studyroom(ctx), model)
    except (KeyboardInterrupt, asyncio.CancelledError):
        data["meta"]["notes"].append("The run was interrupted; some measurements are missing.")
        say("interrupted: cleaning up")
        raise
    finally:
        procs.stop_all()
        await model.stop()
        if space is not None:
            await scratch.drop(space)
        data["meta"]["duration_s"] = round(time.monotonic() - began)
        data["meta"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        data["targets"] = results.targets(data)
        _write(data, args)
    return 0


def _write(data: dict[str, Any], args: argparse.Namespace) -> None:
    out = Path(args.out)
    if args.quick:
        json_path, md_path, png_path = out / "quick.json", out / "quick.md", out / "quick.png"
    elif out.resolve() == DEFAULT_OUT:
        json_path, md_path, png_path = (
            out / "latest.json",
            BENCH / "RESULTS.md",
            BENCH / "results.png",
        )
    else:
        json_path, md_path, png_path = out / "latest.json", out / "RESULTS.md", out / "results.png"
    results.write_json(data, json_path)
    md_path.write_text(results.markdown(data))
    try:
        plot.plot(data, png_path)
    except Exception as exc:
        say(f"plot failed: {exc!r}")
    say(f"results: {json_path}, {md_path}, {png_path}")
    for row in data["targets"]:
        met = "n/a" if row["met"] is None else ("met" if row["met"] else "NOT MET")
        say(f"  {row['target']}: {row['value']} {row['unit']} (≤ {row['limit']}) {met}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run (about 3 min)")
    parser.add_argument(
        "--systems", default="", help=f"comma-separated subset of: {', '.join(ALL)}"
    )
    parser.add_argument(
        "--phases", default="", help=f"comma-separated subset of: {', '.join(PHASES)}"
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the studyroom server under 40x10 load"
    )
    parser.add_argument(
        "--admin-dsn",
        default=os.environ.get(
            "STUDYROOM_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL with the right to create databases",
    )
    parser.add_argument(
        "--redis",
        default=os.environ.get("STUDYROOM_BENCH_REDIS", "redis://127.0.0.1:6379"),
        help="Redis server (no database number)",
    )
    parser.add_argument("--redis-db", type=int, default=13, help="Redis database to use")
    parser.add_argument(
        "--storm-size",
        default="",
        help="sockets in the reconnect storm, comma-separated for several storms "
        "(default: 1000,5000; 300 with --quick)",
    )
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--loadgen-core", type=int, default=1)
    parser.add_argument(
        "--out",
        default=str(DEFAULT_OUT),
        help="where results go; by default a full run also writes bench/RESULTS.md and "
        "bench/results.png",
    )
    args = parser.parse_args(argv)
    unknown = [s for s in args.systems.split(",") if s and s not in ALL]
    unknown += [p for p in args.phases.split(",") if p and p not in PHASES]
    if unknown:
        parser.error(f"unknown system or phase: {', '.join(unknown)}")
    sizes = [s for s in args.storm_size.split(",") if s]
    if any(not s.isdigit() or int(s) < 10 for s in sizes):
        parser.error("--storm-size takes whole numbers of sockets, at least 10 (rooms of 10)")
    return args


def entry() -> None:
    args = parse()
    try:
        sys.exit(uvloop.run(main(args)))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    entry()
