"""Latency of ``GET /api/sessions/{id}/report`` over a long transcript on PostgreSQL.

Creates a scratch PostgreSQL database, migrates it, starts ``studyroom serve`` on it as a
child process, makes a session through the REST API, loads ``--events`` room events into that
session's transcript with ``COPY``, and times ``--calls`` report requests over loopback HTTP,
one after another. The transcript is what a long, busy session leaves behind: presence, chat,
questions with tutor turns (start and a terminal event with usage), quizzes, answers and
progress, each frame encoded exactly as the server encodes it. The report's numbers are
checked against what was loaded before anything is timed.

    .venv/bin/python bench/report_bench.py [--events 100000] [--calls 20]

Needs PostgreSQL (``--admin-dsn``, default ``postgresql://postgres@127.0.0.1:5432/postgres``)
with the right to create databases. The scratch database is dropped afterwards unless
``--keep`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shlex
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import die_with_parent  # noqa: E402
from protocol.events import (  # noqa: E402
    AgentDoneEvent,
    AgentErrorEvent,
    AgentStartEvent,
    AskEvent,
    ChatEvent,
    Citation,
    PresenceEvent,
    ProgressEvent,
    QuizEvent,
    QuizResultEvent,
    RoomEvent,
    TurnUsage,
    UserRef,
    encode_event,
    encode_with_seq,
)
from server.db.migrate import migrate  # noqa: E402

WORDS = [
    *("light", "water", "carbon", "dioxide", "sugar", "oxygen", "chlorophyll", "leaf", "cell"),
    *("energy", "reaction", "stomata", "glucose", "membrane", "photon", "electron", "cycle"),
    *("enzyme", "plant", "root", "stem", "why", "how", "what", "does", "the", "a", "of"),
]
PASSWORD = "benchmark password"  # noqa: S105 - a throwaway user in a scratch database


@dataclass
class Expected:
    """The report a transcript must produce, counted in Python from its decoded frames."""

    participants: set[int] = field(default_factory=set)
    messages: int = 0
    questions: int = 0
    tutor_turns: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    ttfts: list[int] = field(default_factory=list)
    quiz_answers: int = 0
    correct: int = 0


def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def transcript(
    session_id: int, users: list[UserRef], count: int, start: datetime, seed: int = 7
) -> list[tuple[Any, ...]]:
    """``count`` rows for COPY, in seq order, a few seconds apart."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    rows: list[tuple[Any, ...]] = []
    clock = start
    online: set[int] = set()
    quiz_ids: list[str] = []

    def emit(event: RoomEvent, user_id: int | None) -> None:
        seq = len(rows) + 1
        frame = encode_with_seq(seq, encode_event(event))
        rows.append((session_id, seq, event.type, user_id, frame, clock))

    def chat(who: UserRef, ts: str, low: int, high: int) -> None:
        text = _text(rng, low, high)
        emit(ChatEvent(message_id=uuid.uuid4().hex[:16], user=who, text=text, ts=ts), who.id)

    while len(rows) < count:
        clock += timedelta(milliseconds=rng.randint(50, 4000))
        ts = _iso(clock)
        who = rng.choice(users)
        roll = rng.random()
        if who.id not in online or roll < 0.01:
            event: Any = "join" if who.id not in online else "leave"
            emit(PresenceEvent(event=event, user=who, ts=ts), who.id)
            (online.add if event == "join" else online.discard)(who.id)
        elif roll < 0.62:
            chat(who, ts, 3, 40)
        elif roll < 0.72:
            turn = "t" + uuid.uuid4().hex[:16]
            emit(AskEvent(turn_id=turn, user=who, text=_text(rng, 4, 25) + "?", ts=ts), who.id)
            emit(AgentStartEvent(turn_id=turn, in_reply_to=len(rows), ts=ts), None)
            if rng.random() < 0.07:
                emit(
                    AgentErrorEvent(turn_id=turn, code="timeout", message="no answer", ts=ts), None
                )
                continue
            citations = [
                Citation(material_id=rng.randint(1, 40), chunk_id=rng.randint(1, 900), page=p)
                for p in rng.sample(range(1, 300), rng.randint(0, 3))
            ]
            done = AgentDoneEvent(
                turn_id=turn,
                text=_text(rng, 30, 250),
                usage=TurnUsage(tokens_in=rng.randint(200, 4000), tokens_out=rng.randint(20, 600)),
                citations=citations,
                stopped=rng.random() < 0.03,
                model="gpt-4o-mini",
                ttft_ms=rng.randint(120, 2500),
                ts=ts,
            )
            emit(done, None)
            if rng.random() < 0.3:
                quiz_ids.append("q" + uuid.uuid4().hex[:12])
                choices = [_text(rng, 1, 4) for _ in range(4)]
                question = _text(rng, 5, 15) + "?"
                quiz = QuizEvent(
                    quiz_id=quiz_ids[-1], question=question, choices=choices, turn_id=turn, ts=ts
                )
                emit(quiz, None)
        elif roll < 0.86 and quiz_ids:
            correct = rng.random() < 0.64
            quiz_id, choice = rng.choice(quiz_ids), rng.randint(0, 3)
            emit(
                QuizResultEvent(quiz_id=quiz_id, user=who, choice=choice, correct=correct, ts=ts),
                who.id,
            )
            mastery = round(rng.random(), 3)
            concept = rng.choice(WORDS)
            progress = ProgressEvent(
                user=who, concept=concept, mastery=mastery, source="quiz", ts=ts
            )
            emit(progress, who.id)
        else:
            chat(who, ts, 1, 8)
    # A turn emits several rows at once: cut to the exact count.
    return rows[:count]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    # Other work on the machine shows in the numbers; the load average says how much there was.
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs (nproc), {model}, {system}, "
        f"Python {platform.python_version()}, load average {load}"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def run(
    events: int,
    calls: int,
    admin_dsn: str,
    *,
    keep: bool = False,
    core: int | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Load ``events`` into a scratch database and time ``calls`` reports; returns the numbers.

    ``core`` pins the server to that CPU with ``taskset`` (the harness in ``bench/run.py``
    does, to keep it away from its own load generator).
    """
    name = f"studyroom_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_dsn)
    version = await admin.fetchval("SHOW server_version")
    say(f"postgres: {version}")
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_dsn.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    server: asyncio.subprocess.Process | None = None
    try:
        await asyncio.to_thread(migrate, url.replace("postgresql://", "postgresql+asyncpg://"))
        port = free_port()
        env = {
            **os.environ,
            "STUDYROOM_DATABASE_URL": url.replace("postgresql://", "postgresql+asyncpg://"),
            "STUDYROOM_REDIS_URL": "memory://",
            "STUDYROOM_SECRET_KEY": "benchmark-secret-key-that-is-long-enough",
            "STUDYROOM_TUTOR_PROVIDER": "local",
        }
        pin = ["taskset", "-c", str(core)] if core is not None else []
        log_path = Path(tempfile.gettempdir()) / f"{name}.log"
        with log_path.open("wb") as log:
            server = await asyncio.create_subprocess_exec(
                *pin,
                *(sys.executable, "-m", "server", "serve", "--port", str(port)),
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                # Killed with the harness even if the harness is killed outright.
                preexec_fn=die_with_parent,
            )
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.returncode is not None:
                    raise RuntimeError(f"server did not start; see {log_path}")
                await asyncio.sleep(0.1)

            people: list[UserRef] = []
            token = ""
            for i in range(8):
                username = f"bench_{i}_{uuid.uuid4().hex[:6]}"
                made = (
                    await http.post("/api/users", json={"username": username, "password": PASSWORD})
                ).json()
                people.append(UserRef(id=made["id"], name=made["display_name"]))
                if i == 0:
                    token = (
                        await http.post(
                            "/api/auth/token", data={"username": username, "password": PASSWORD}
                        )
                    ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            topic = (
                await http.post("/api/topics", json={"title": "Photosynthesis"}, headers=auth)
            ).json()
            session = (
                await http.post("/api/sessions", json={"topic_id": topic["id"]}, headers=auth)
            ).json()

            started = datetime.now(UTC) - timedelta(days=2)
            rows = transcript(session["id"], people, events, started)
            expected = recount(rows)
            conn = await asyncpg.connect(url)
            try:
                began = time.perf_counter()
                await conn.copy_records_to_table(
                    "transcript_events",
                    records=rows,
                    columns=["session_id", "seq", "type", "user_id", "body", "created_at"],
                )
                loaded = time.perf_counter() - began
                # As autovacuum would have by the time anyone reads a report of it.
                await conn.execute("VACUUM ANALYZE transcript_events")
                size = await conn.fetchval(
                    "SELECT pg_size_pretty(pg_total_relation_size('transcript_events'))"
                )
            finally:
                await conn.close()
            say(f"loaded {len(rows)} events ({size} with indexes) in {loaded:.1f}s")

            path = f"/api/sessions/{session['id']}/report"
            report = (await http.get(path, headers=auth)).json()
            check(report, expected)
            say(f"report: {report}")
            for _ in range(3):
                await http.get(path, headers=auth)
            times = []
            for _ in range(calls):
                began = time.perf_counter()
                answer = await http.get(path, headers=auth)
                times.append((time.perf_counter() - began) * 1000)
                answer.raise_for_status()
            times.sort()
            p95 = times[max(0, round(0.95 * len(times)) - 1)]
            median = statistics.median(times)
            say(
                f"GET {path} x{calls} (sequential, after 3 warm-up calls): "
                f"median {median:.1f} ms, p95 {p95:.1f} ms, "
                f"min {times[0]:.1f} ms, max {times[-1]:.1f} ms"
            )
            return {
                "events": len(rows),
                "calls": calls,
                "postgres": version,
                "table_size": size,
                "median_ms": round(median, 1),
                "p95_ms": round(p95, 1),
                "min_ms": round(times[0], 1),
                "max_ms": round(times[-1], 1),
            }
    finally:
        if server is not None:
            if server.returncode is None:
                server.terminate()
            await asyncio.wait_for(server.wait(), 20)
        if keep:
            say(f"kept database: {name}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument(
        "--admin-dsn",
        default=os.environ.get(
            "STUDYROOM_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    print("command:", shlex.join([sys.executable, *sys.argv]))
    print("machine:", machine())
    await run(args.events, args.calls, args.admin_dsn, keep=args.keep)


def recount(rows: list[tuple[Any, ...]]) -> Expected:
    expected = Expected()
    for _session, _seq, kind, user_id, body, _at in rows:
        frame = json.loads(body)
        if kind == "chat":
            expected.messages += 1
            expected.participants.add(user_id)
        elif kind == "ask":
            expected.questions += 1
            expected.participants.add(user_id)
        elif kind == "presence" and frame["event"] == "join":
            expected.participants.add(user_id)
        elif kind == "agent.done":
            expected.tutor_turns += 1
            expected.tokens_in += frame["usage"]["tokens_in"]
            expected.tokens_out += frame["usage"]["tokens_out"]
            expected.ttfts.append(frame["ttft_ms"])
        elif kind == "agent.error":
            expected.tutor_turns += 1
        elif kind == "quiz.result":
            expected.quiz_answers += 1
            expected.correct += int(frame["correct"])
    return expected


def check(report: dict[str, Any], expected: Expected) -> None:
    want = {
        "participants": len(expected.participants),
        "messages": expected.messages,
        "questions": expected.questions,
        "tutor_turns": expected.tutor_turns,
        "tokens_in": expected.tokens_in,
        "tokens_out": expected.tokens_out,
        "ttft_ms_p50": float(statistics.median(expected.ttfts)) if expected.ttfts else None,
        "quiz_answers": expected.quiz_answers,
        "quiz_accuracy": expected.correct / expected.quiz_answers
        if expected.quiz_answers
        else None,
    }
    got = {key: report[key] for key in want}
    if got != want:
        raise SystemExit(f"wrong report:\n got  {got}\n want {want}")


if __name__ == "__main__":
    asyncio.run(main())
