"""PostgreSQL behind a real PgBouncer in transaction pooling, as many processes deploy it.

There, each transaction may run on another server connection, which breaks asyncpg's cached
prepared statements; ``STUDYROOM_DATABASE_PGBOUNCER`` turns them off. The test starts
Debian's ``pgbouncer`` on a loopback port in front of the test database, migrates through it
and serves REST and rooms through it under concurrent load.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from server.db.migrate import migrate
from tests.support.processes import free_port

IN_CI = os.environ.get("CI", "").lower() == "true"
SERVICES_ONLY = pytest.mark.parametrize("backend", ["services"], indirect=True)


@pytest.fixture
def pgbouncer(services_backend: Any) -> Iterator[int]:
    """A PgBouncer (transaction pooling, 4 server connections) in front of the test
    PostgreSQL; its port."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        if IN_CI:
            pytest.fail("CI needs Debian's pgbouncer (.ci/run installs it)")
        pytest.skip("pgbouncer is not installed")
    target = urlsplit(services_backend.database_url.replace("+asyncpg", ""))
    port = free_port()
    # PgBouncer will not run as root: it drops to the postgres user, who must read this.
    folder = Path(tempfile.mkdtemp(prefix="studyroom-pgbouncer-"))
    folder.chmod(0o755)
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={target.hostname or '127.0.0.1'} port={target.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 4\nmax_client_conn = 200\n"
        f"admin_users = postgres\nlogfile = {folder / 'pgbouncer.log'}\n"
    )
    for path in folder.iterdir():
        path.chmod(0o644)
    user: list[str] = []
    if os.geteuid() == 0:
        # It writes its log there as that user.
        postgres = pwd.getpwnam("postgres")
        os.chown(folder, postgres.pw_uid, postgres.pw_gid)
        user = ["-u", "postgres"]
    process = subprocess.Popen([binary, *user, str(folder / "pgbouncer.ini")])
    try:
        _wait_for_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_port(port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"pgbouncer did not listen on {port}")


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    return url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{port}", 1)


def _transactions(port: int) -> int:
    """Transactions PgBouncer passed on, from its admin console."""
    shown = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-At", "-F", "|",
         "-c", "SHOW STATS", "pgbouncer"],
        capture_output=True, text=True, check=True, timeout=10,
    )  # fmt: skip
    # database|total_xact_count|…
    return sum(int(line.split("|")[1]) for line in shown.stdout.splitlines() if "|" in line)


@SERVICES_ONLY
async def test_rest_and_rooms_work_through_pgbouncer_in_transaction_pooling(
    services_backend: Any, pgbouncer: int, make_server: Any, make_kit: Any
) -> None:
    url = _through(services_backend.database_url, pgbouncer)
    # Migrating through it works too (an up-to-date database is left as it is).
    await asyncio.to_thread(migrate, url, pgbouncer=True)
    before = _transactions(pgbouncer)
    server = await make_server(database_url=url, database_pgbouncer=True, rate_limit_burst=200)
    kit = make_kit(server.base_url)
    people = [await kit.person(f"p{i}") for i in range(6)]
    session = await kit.session(people[0], *people[1:])

    # Many transactions at once, from a pool of 20 client connections onto 4 server ones:
    # statements of one client connection land on other server connections all the time.
    async def busy(person: Any, i: int) -> None:
        for n in range(5):
            made = await kit.http.post(
                "/api/topics", json={"title": f"t{i}-{n}"}, headers=person.auth
            )
            assert made.status_code == 201, made.text
            listed = await kit.http.get("/api/topics", headers=person.auth)
            assert listed.status_code == 200, listed.text
            detail = await kit.http.get(f"/api/sessions/{session['id']}", headers=person.auth)
            assert detail.status_code == 200, detail.text

    await asyncio.gather(*(busy(p, i) for i, p in enumerate(people * 3)))

    # The room's transcript is written through it as well.
    a, b = await kit.connect(people[0], session), await kit.connect(people[1], session)
    for n in range(30):
        await a.send({"type": "chat", "text": f"message {n}"})
    await b.until(lambda f: f.get("type") == "chat" and f["text"] == "message 29", 15)
    for _ in range(100):
        rows = await kit.messages(people[1], session["id"])
        if sum(r["type"] == "chat" for r in rows) == 30:
            break
        await asyncio.sleep(0.1)
    assert [r["text"] for r in rows if r["type"] == "chat"] == [f"message {n}" for n in range(30)]
    assert _transactions(pgbouncer) > before + 100
