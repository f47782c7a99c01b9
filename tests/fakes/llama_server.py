"""A real OpenAI-compatible server for tests: ``llama_cpp.server`` on loopback.

It runs a GGUF model (the bundled SmolLM2 by default) in a subprocess, so the OpenAI SDK and
the project's OpenAI provider can be exercised end to end with no network.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx


@dataclass(frozen=True)
class LlamaServer:
    base_url: str  # ends in /v1, as the OpenAI SDK expects
    model: str  # the id the server lists under /v1/models


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(log: IO[bytes], limit: int = 4000) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-limit:]


async def _wait_until_ready(
    process: subprocess.Popen[bytes], base_url: str, log: IO[bytes], timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with {process.returncode}:\n{_tail(log)}"
                )
            try:
                response = await client.get(f"{base_url}/models")
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"llama_cpp.server did not answer within {timeout_s} s:\n{_tail(log)}"
                )
            await asyncio.sleep(0.1)


async def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        await asyncio.to_thread(process.wait, 10)
    except subprocess.TimeoutExpired:
        process.kill()
        await asyncio.to_thread(process.wait)


@asynccontextmanager
async def llama_server(
    model_path: str,
    *,
    context_tokens: int = 2048,
    threads: int = 2,
    startup_timeout_s: float = 60.0,
) -> AsyncIterator[LlamaServer]:
    """Run ``python -m llama_cpp.server`` on a free loopback port until the block exits.

    Ready once ``GET /v1/models`` answers; raises with the server's output if it exits or
    does not answer within ``startup_timeout_s``.
    """
    port = _free_port()
    model = Path(model_path).stem
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        model_path,
        "--model_alias",
        model,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(context_tokens),
        "--n_threads",
        str(threads),
    ]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            await _wait_until_ready(process, base_url, log, startup_timeout_s)
            yield LlamaServer(base_url=base_url, model=model)
        finally:
            await _stop(process)
