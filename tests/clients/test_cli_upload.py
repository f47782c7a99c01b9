"""``studyroom upload``: the bar counts the file's own bytes; a wrong topic is refused first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clients.cli.upload import file_bytes_sent
from clients.sdk.upload import MultipartFile
from tests.clients.cli_support import Cli, sdk_user


async def test_the_count_is_of_the_files_bytes_never_the_multiparts(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_bytes(b"x" * 220)
    part = MultipartFile(notes)
    seen: list[int] = []
    async for _ in part.body(lambda sent, total: seen.append(file_bytes_sent(sent, total, 220))):
        pass
    assert part.total > 220
    assert seen[0] == 0 and seen[-1] == 220
    assert seen == sorted(seen) and max(seen) == 220


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_upload_shows_the_files_size_and_refuses_a_strangers_topic_first(
    make_server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    server = await make_server(data_dir=tmp_path / "data")
    ada_name, bob_name = unique("ada"), unique("bob")
    cli = Cli(tmp_path / "config.json")
    notes = tmp_path / "notes.md"
    notes.write_text("# Trees\n\n" + "A tree is a connected graph without cycles. " * 4 + "\n")
    size = notes.stat().st_size
    async with (
        sdk_user(server.base_url, ada_name) as ada,
        sdk_user(server.base_url, bob_name) as bob,
    ):
        mine = await ada.create_topic("Graphs")
        session = await ada.create_session(mine.id)
        await cli.login(server.base_url, bob_name)

        theirs = await cli.run("upload", str(notes), "--topic", str(mine.id))
        assert theirs.code == 1 and f"no topic {mine.id} of yours" in theirs.err
        # Refused before the upload began: no progress bar was drawn.
        assert "uploading" not in theirs.out and "bytes" not in theirs.out
        # A member of a session on it sees the topic, but it is still not theirs.
        await bob.join(session.join_code)
        member = await cli.run("upload", str(notes), "--topic", str(mine.id))
        assert member.code == 1 and "is someone else's" in member.err
        assert await ada.materials(mine.id) == []

        await cli.login(server.base_url, ada_name)
        uploaded = await cli.ok("upload", str(notes), "--topic", str(mine.id))
        assert f"{size}/{size} bytes" in uploaded.out, uploaded.out
