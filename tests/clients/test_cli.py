"""The ``studyroom`` terminal client: the real console command against a real server."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.cli_support import PASSWORD, Cli, eventually, sdk_user

# The client sees only the API, which is the same on both engines; the room tests in
# test_cli_chat.py run on both.
pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)
LOGIN_AGAIN = "log in again"


def row(table: str, label: str) -> list[str]:
    """The cells of the table row that starts with ``label``."""
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if cells[0] == label:
            return cells
    raise AssertionError(f"no row {label!r} in:\n{table}")


async def test_register_login_whoami_logout(
    server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    config = tmp_path / "nested" / "config.json"
    cli = Cli(config)
    name = unique("ada")
    registered = await cli.ok(
        "register",
        "--server",
        server.base_url,
        "-u",
        name,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert f"registered and logged in as {name}" in registered.out
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    saved = json.loads(config.read_text())
    assert saved["server"] == server.base_url and saved["username"] == name
    assert saved["access_token"] and saved["expires_at"]

    who = await cli.ok("whoami")
    assert f"{name} at {server.base_url}" in who.out and "no current session" in who.out
    assert (await cli.ok("status", "--json")).json()["username"] == name

    taken = await cli.run("register", "-u", name, "--password-stdin", stdin="another password\n")
    assert taken.code == 1 and f"the username {name!r} is taken" in taken.err

    exported = (await cli.ok("export")).json()
    assert exported["user"]["username"] == name and exported["format"] == "studyroom-export/1"
    token = json.loads(config.read_text())["access_token"]
    assert f"logged out {name}" in (await cli.ok("logout")).out
    # The server revoked it too: a copy of the token no longer works.
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        me = await http.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    saved = json.loads(config.read_text())
    assert saved["access_token"] is None and saved["server"] == server.base_url
    signed_out = await cli.run("whoami")
    assert signed_out.code == 1 and "not logged in" in signed_out.err

    # The saved server and username are the defaults of the next login.
    wrong = await cli.run("login", "-u", name, "--password-stdin", stdin="not the password\n")
    assert wrong.code == 1 and "wrong username or password" in wrong.err
    await cli.ok("login", "-u", name, "--password-stdin", stdin=PASSWORD + "\n")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert name in (await cli.ok("whoami")).out


async def test_topics_and_sessions(
    server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    ada_name, bob_name = unique("ada"), unique("bob")
    ada, bob = Cli(tmp_path / "ada.json"), Cli(tmp_path / "bob.json")
    async with sdk_user(server.base_url, ada_name) as ada_sdk:
        async with sdk_user(server.base_url, bob_name):
            pass
        await ada.login(server.base_url, ada_name)
        await bob.login(server.base_url, bob_name)

        created = await ada.ok("topics", "create", "Graph theory", "--description", "vertices")
        assert "created topic" in created.out
        (topic,) = (await ada.ok("topics", "--json")).json()
        assert topic["title"] == "Graph theory" and topic["description"] == "vertices"
        listed = await ada.ok("topics")
        assert "Graph theory" in listed.out and "vertices" in listed.out
        blank = await ada.run("topics", "create", "  ")
        assert blank.code == 1 and "must not be blank" in blank.err

        shown = await ada.ok("sessions", "create", "--topic", str(topic["id"]), "--title", "Trees")
        session = await ada_sdk.current_session()
        assert session is not None and session.title == "Trees"
        # The join code stands out, with what to do with it.
        assert f"join code  {session.join_code}" in shown.out
        assert f"studyroom sessions join {session.join_code}" in shown.out

    unknown = await bob.run("sessions", "join", "NOPE2345")
    assert unknown.code == 1 and "unknown join code" in unknown.err
    joined = await bob.ok("sessions", "join", session.join_code.lower())
    assert f"joined session {session.id}: Trees" in joined.out
    current = await bob.ok("sessions", "current")
    assert "Trees" in current.out and session.join_code in current.out and ada_name in current.out

    not_owner = await bob.run("sessions", "end", str(session.id))
    assert not_owner.code == 1
    assert "only the session's owner can end it (HTTP 403)" in not_owner.err
    assert f"ended session {session.id}" in (await ada.ok("sessions", "end", str(session.id))).out
    none = await bob.run("sessions", "current")
    assert none.code == 1 and "no current session" in none.out


async def test_list_sessions_rename_and_delete_a_topic_download_a_material(
    make_server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    server = await make_server(data_dir=tmp_path / "data")
    name = unique("ada")
    cli = Cli(tmp_path / "config.json")
    notes = tmp_path / "notes.md"
    notes.write_bytes("# Trees\n\nA tree has no cycles. é\n".encode())
    async with sdk_user(server.base_url, name) as sdk:
        topic = await sdk.create_topic("Graphs")
        first = await sdk.create_session(topic.id, "First")
        second = await sdk.create_session(topic.id, "Second")
        material = await sdk.upload(topic.id, notes)
        await sdk.end_session(first.id)
        await cli.login(server.base_url, name)

        listed = (await cli.ok("sessions", "list", "--json")).json()
        assert [s["id"] for s in listed] == [second.id, first.id]
        ended = (await cli.ok("sessions", "list", "--status", "ended", "--json")).json()
        assert [s["id"] for s in ended] == [first.id]
        table = await cli.ok("sessions", "list")
        assert "Second" in table.out and "ended" in table.out
        bad = await cli.run("sessions", "list", "--status", "paused")
        assert bad.code == 1 and "--status is `active` or `ended`" in bad.err

        renamed = await cli.ok("topics", "rename", str(topic.id), "--title", "Graph theory")
        assert f"topic {topic.id} is now: Graph theory" in renamed.out
        assert (await sdk.topic(topic.id)).title == "Graph theory"
        nothing = await cli.run("topics", "rename", str(topic.id))
        assert nothing.code == 1 and "give --title" in nothing.err

        saved = tmp_path / "copy.md"
        got = await cli.ok("download", str(material.id), "--output", str(saved))
        assert saved.read_bytes() == notes.read_bytes() and f"saved {saved}" in got.out
        again = await cli.run("download", str(material.id), "--output", str(saved))
        assert again.code == 1 and "exists" in again.err

        refused = await cli.run("topics", "delete", str(topic.id), stdin="n\n")
        assert refused.code == 1 and "nothing deleted" in refused.err
        deleted = await cli.ok("topics", "delete", str(topic.id), "--yes")
        assert f"deleted topic {topic.id}" in deleted.out
        assert await sdk.topics() == []
        assert [s.topic_id for s in await sdk.sessions()] == [None, None]


async def test_upload_shows_progress_and_stores_the_material(
    make_server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    server = await make_server(upload_max_bytes=4000, data_dir=tmp_path / "data")
    name = unique("ada")
    cli = Cli(tmp_path / "config.json")
    notes = tmp_path / "notes.md"
    notes.write_text(
        "# Light reactions\n\nChlorophyll absorbs light.\n\n# Calvin cycle\n\nIt fixes CO2.\n"
    )
    async with sdk_user(server.base_url, name) as sdk:
        topic = await sdk.create_topic("Photosynthesis")
        await cli.login(server.base_url, name)

        uploaded = await cli.ok("upload", str(notes), "--topic", str(topic.id))
        assert "100%" in uploaded.out and f"uploaded {notes.name}" in uploaded.out
        (material,) = await sdk.materials(topic.id)
        assert material.filename == "notes.md" and material.chunks >= 1
        assert f"stored notes.md as material {material.id} of topic {topic.id}" in uploaded.out
        assert f"{material.chunks} chunks" in uploaded.out

        missing = await cli.run("upload", str(tmp_path / "absent.md"), "--topic", str(topic.id))
        assert missing.code == 1 and "no such file" in missing.err
        binary = tmp_path / "blob.bin"
        binary.write_bytes(bytes(range(256)) * 4)
        refused = await cli.run("upload", str(binary), "--topic", str(topic.id))
        assert refused.code == 1 and "the server cannot use blob.bin" in refused.err
        big = tmp_path / "big.txt"
        big.write_text("photosynthesis " * 1000)
        too_large = await cli.run("upload", str(big), "--topic", str(topic.id))
        assert too_large.code == 1 and "big.txt is too large for this server" in too_large.err
        assert [m.filename for m in await sdk.materials(topic.id)] == ["notes.md"]


async def settled_history(sdk: Any) -> Any:
    """History once the member's leave is in the transcript: until then the time in the room
    counts up to now, and it drops back to the leave's time when that is written."""
    previous = None
    for _ in range(100):
        history = await sdk.history()
        if previous is not None and history[-1].study_minutes == previous[-1].study_minutes:
            return history
        previous = history
        await asyncio.sleep(0.1)
    raise AssertionError("study minutes kept changing after the member left")


async def test_report_history_and_goals(
    server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    name = unique("ada")
    cli = Cli(tmp_path / "config.json")
    async with sdk_user(server.base_url, name) as sdk:
        topic = await sdk.create_topic("Graph theory")
        session = await sdk.create_session(topic.id, "Trees")
        async with sdk.room(session.id) as room:
            await room.chat("a tree has no cycles")
            await room.chat("and it is connected")
            # Time in the room counts up to now while present.
            await eventually(sdk.history, lambda h: h[-1].study_minutes > 0)
        await eventually(lambda: sdk.report(session.id), lambda r: r.messages == 2)
        history = await settled_history(sdk)
    await cli.login(server.base_url, name)

    shown = await cli.ok("report")
    assert f"Session {session.id}: Trees" in shown.out
    assert row(shown.out, "messages") == ["messages", "2"]
    assert row(shown.out, "participants") == ["participants", "1"]
    # The study-time chart: a bar for today.
    assert "Study minutes per day" in shown.out and "█" in shown.out
    report = (await cli.ok("report", str(session.id), "--json")).json()
    assert report["report"]["messages"] == 2 and report["report"]["participants"] == 1
    assert len(report["history"]) == 14
    assert report["history"][-1]["study_minutes"] >= history[-1].study_minutes
    weekly = await cli.ok("report", "--week", "--days", "21")
    assert "Study history per week" in weekly.out and "week of" in weekly.out

    created = await cli.ok(
        "goals",
        "create",
        "--topic",
        str(topic.id),
        "--metric",
        "study_minutes",
        "--target",
        "90",
        "--due",
        "2030-06-30",
    )
    assert "created goal" in created.out and "90 minutes of study" in created.out
    listed = await cli.ok("goals")
    assert "90 minutes of study" in listed.out and "2030-06-30" in listed.out
    assert "░" in listed.out
    (goal,) = (await cli.ok("goals", "--json")).json()
    assert goal["metric"] == "study_minutes" and goal["target"] == 90
    share = await cli.run(
        "goals", "create", "--topic", str(topic.id), "--metric", "quiz_accuracy", "--target", "80"
    )
    assert share.code == 1 and "share from 0 to 1" in share.err
    assert "no concepts yet" in (await cli.ok("progress")).out


async def test_a_bad_or_expired_login_says_to_log_in_again(
    server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    config = tmp_path / "config.json"
    cli = Cli(config)
    garbage = {"server": server.base_url, "username": "x", "access_token": "garbage"}
    config.write_text(json.dumps(garbage))
    for command in (("topics",), ("chat", "1")):
        refused = await cli.run(*command)
        assert refused.code == 1 and LOGIN_AGAIN in refused.err, (command, refused)

    name = unique("ada")
    async with sdk_user(server.base_url, name):
        pass
    await cli.login(server.base_url, name)
    saved = json.loads(config.read_text())
    config.write_text(json.dumps({**saved, "expires_at": "2020-01-01T00:00:00+00:00"}))
    expired = await cli.run("topics")
    assert expired.code == 1 and LOGIN_AGAIN in expired.err

    config.write_text(json.dumps({**saved, "server": "http://127.0.0.1:9"}))
    unreachable = await cli.run("topics")
    assert unreachable.code == 1
    assert "cannot reach the server at http://127.0.0.1:9" in unreachable.err
    config.write_text("{not json")
    broken = await cli.run("topics")
    assert broken.code == 1 and "is not valid JSON" in broken.err
