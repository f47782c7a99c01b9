"""``studyroom serve`` in child processes, as operators run it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """One server process; its output goes to ``log_path``."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(20)


def _tail(path: str) -> str:
    with open(path, errors="replace") as log_file:
        return log_file.read()[-2000:]


@dataclass
class Spawner:
    """Starts server processes with logs under ``log_dir``; :meth:`stop_all` kills the ones
    still running."""

    log_dir: Path
    started: list[ServerProcess] = field(default_factory=list)

    def __call__(self, env: dict[str, str]) -> ServerProcess:
        """A server with ``env`` on top of this process's environment, once ``/healthz``
        answers; raises RuntimeError with the log's tail if it exits or is not up in 30 s."""
        port = free_port()
        log_path = str(self.log_dir / f"server-{port}.log")
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--port", str(port)],
                env={**os.environ, **env},
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        proc = ServerProcess(process, port, log_path)
        self.started.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {_tail(log_path)}")
            try:
                if httpx.get(f"{proc.base_url}/healthz", timeout=0.5).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start: {_tail(log_path)}")

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.process.poll() is None:
                proc.process.kill()
                proc.process.wait(10)
