"""What the numbers were measured on: CPU, memory, kernel, Python, packages, services."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = (
    "studyroom",
    "uvicorn",
    "websockets",
    "fastapi",
    "starlette",
    "redis",
    "python-socketio",
    "python-engineio",
    "uvloop",
    "sqlalchemy",
    "asyncpg",
    "pydantic",
    "openai",
    "httpx",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def describe() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


async def service_versions(admin_dsn: str, redis_url: str) -> dict[str, str | None]:
    import asyncpg
    import redis.asyncio as redis

    found: dict[str, str | None] = {"postgres": None, "redis": None}
    try:
        conn = await asyncpg.connect(admin_dsn)
        try:
            found["postgres"] = str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()
    except Exception as exc:  # a missing service shows in the results, not as a crash
        found["postgres"] = f"unreachable ({type(exc).__name__})"
    client = redis.Redis.from_url(redis_url)
    try:
        found["redis"] = str((await client.info("server"))["redis_version"])
    except Exception as exc:
        found["redis"] = f"unreachable ({type(exc).__name__})"
    finally:
        await client.aclose()
    return found
