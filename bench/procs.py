"""Servers under test as child processes: pinned to a core, measured from /proc, always killed.

Every server runs in its own process group and dies with the harness: the group is killed when
the harness exits (normally, on an exception or on Ctrl-C), and the kernel sends it SIGKILL if
the harness itself is killed (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1
_LIVE: dict[int, ServerProcess] = {}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def raise_nofile() -> int:
    """Lift this process's open-file limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def die_with_parent() -> None:
    # Runs in the child between fork and exec: a harness killed with SIGKILL takes it along.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    raise_nofile()


@dataclass
class ServerProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM to the whole group, SIGKILL after ``grace_s``."""
        _LIVE.pop(self.pid, None)
        if self.popen.poll() is not None:
            return
        _signal_group(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(self.pid, signal.SIGKILL)
            self.popen.wait(5)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    core: int | None,
    env: dict[str, str],
    cwd: Path,
    log_dir: Path,
) -> ServerProcess:
    """Start ``argv`` pinned to ``core`` with ``taskset`` (no pinning when ``core`` is None)."""
    log_path = log_dir / f"{name}.log"
    command = [*(["taskset", "-c", str(core)] if core is not None else []), *argv]
    with log_path.open("wb") as log:
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    server = ServerProcess(name, popen, log_path)
    _LIVE[popen.pid] = server
    return server


def stop_all() -> None:
    for server in list(_LIVE.values()):
        server.stop(grace_s=3.0)


atexit.register(stop_all)


async def wait_http(server: ServerProcess, url: str, timeout_s: float = 60.0) -> None:
    """Until ``url`` answers 200; raises with the server's log if it died or never answered."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            if not server.alive():
                raise RuntimeError(f"{server.name} exited:\n{server.log_tail()}")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} did not answer {url}:\n{server.log_tail()}")
            await asyncio.sleep(0.1)


async def wait_port(server: ServerProcess, port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited:\n{server.log_tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                tail = server.log_tail()
                raise RuntimeError(f"{server.name} is not listening:\n{tail}") from None
            await asyncio.sleep(0.1)


# --- measuring from /proc ---------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name is in parentheses and may hold spaces; fields after it are plain.
    return raw[raw.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            kids = _children(current)
        except OSError:
            continue
        out += kids
        todo += kids
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid``, its reaped children and its live descendants."""
    fields = _stat_fields(pid)
    # After the name: state(0) ... utime(11) stime(12) cutime(13) cstime(14).
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for child in descendants(pid):
        try:
            child_fields = _stat_fields(child)
        except OSError:
            continue
        ticks += int(child_fields[11]) + int(child_fields[12])
    return ticks / _CLOCK_TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """RSS and PSS (KiB) of ``pid`` plus its live descendants."""
    rss = pss = 0
    for member in [pid, *descendants(pid)]:
        try:
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            key, _, value = line.partition(":")
            if key == "Rss":
                rss += int(value.split()[0])
            elif key == "Pss":
                pss += int(value.split()[0])
    return {"rss_kib": rss, "pss_kib": pss}


def own_cpu_seconds() -> float:
    """CPU of this process (every thread), to tell when the load generator is the bottleneck."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def redis_pid(url: str) -> int | None:
    """The local redis-server's pid (from INFO), to show its share of the work; None if remote."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        pid = int(client.info("server")["process_id"])
    except Exception:
        return None
    finally:
        client.close()
    return pid if Path(f"/proc/{pid}").exists() else None
