"""``studyroom members`` and the hosts' ``sessions`` commands, run against a real server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clients.sdk import ApiError
from tests.clients.cli_support import Cli, sdk_user

pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


def roles(listed: list[dict[str, Any]]) -> dict[str, str]:
    return {m["username"]: m["role"] for m in listed}


async def test_hosts_list_promote_and_remove_members(
    server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    ada_name, bob_name, cy_name = unique("ada"), unique("bob"), unique("cy")
    ada, bob = Cli(tmp_path / "ada.json"), Cli(tmp_path / "bob.json")
    async with (
        sdk_user(server.base_url, ada_name) as ada_sdk,
        sdk_user(server.base_url, bob_name) as bob_sdk,
        sdk_user(server.base_url, cy_name) as cy_sdk,
    ):
        topic = await ada_sdk.create_topic("Graphs")
        session = await ada_sdk.create_session(topic.id, "Trees")
        await bob_sdk.join(session.join_code)
        await cy_sdk.join(session.join_code)
        await ada.login(server.base_url, ada_name)
        await bob.login(server.base_url, bob_name)

        # The current session by default, as the other session commands do.
        listed = (await bob.ok("members", "list", "--json")).json()
        assert roles(listed) == {ada_name: "host", bob_name: "member", cy_name: "member"}
        table = await bob.ok("members", "list")
        assert f"Session {session.id}" in table.out and "host" in table.out

        # A plain member is told who can, before the server is asked.
        refused = await bob.run("members", "remove", cy_name)
        assert refused.code == 1
        assert f"only the hosts of session {session.id} can remove members" in refused.err
        assert f"hosts: {ada_name}" in refused.err
        assert f"studyroom members role {bob_name} host" in refused.err

        promoted = await ada.ok("members", "role", bob_name, "host", "--session", str(session.id))
        assert f"{bob_name} is now a host of session {session.id}" in promoted.out
        # By id as well as by username.
        bob_id = next(m["id"] for m in listed if m["username"] == bob_name)
        await ada.ok("members", "role", str(bob_id), "host")
        creator = await bob.run("members", "role", ada_name, "member")
        assert creator.code == 1
        assert f"cannot change roles in session {session.id}" in creator.err
        assert "the session's creator stays a host" in creator.err

        removed = await bob.ok("members", "remove", cy_name)
        assert f"removed {cy_name} from session {session.id}" in removed.out
        assert roles((await ada.ok("members", "list", "--json")).json()) == {
            ada_name: "host",
            bob_name: "host",
        }
        with pytest.raises(ApiError) as banned:
            await cy_sdk.join(session.join_code)
        assert banned.value.status == 403

        stranger = await ada.run("members", "remove", "nobody_here")
        assert stranger.code == 1 and "'nobody_here' is not a member" in stranger.err
        myself = await ada.run("members", "remove", ada_name)
        assert myself.code == 1 and "studyroom sessions leave" in myself.err
        shown = await ada.ok("sessions", "show", str(session.id))
        assert f"{ada_name} (host)" in shown.out


async def test_hosts_set_the_session_and_rotate_its_code_members_leave(
    server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    ada_name, bob_name = unique("ada"), unique("bob")
    ada, bob = Cli(tmp_path / "ada.json"), Cli(tmp_path / "bob.json")
    async with (
        sdk_user(server.base_url, ada_name) as ada_sdk,
        sdk_user(server.base_url, bob_name) as bob_sdk,
    ):
        topic = await ada_sdk.create_topic("Graphs")
        session = await ada_sdk.create_session(topic.id, "Trees")
        await bob_sdk.join(session.join_code)
        await ada.login(server.base_url, ada_name)
        await bob.login(server.base_url, bob_name)

        changed = await ada.ok("sessions", "set", "--title", "Forests", "--tutor", "explain")
        assert f"session {session.id}: Forests · tutor explain" in changed.out
        locked = (await ada.ok("sessions", "set", str(session.id), "--lock", "--json")).json()
        assert locked["locked"] is True and locked["tutor_mode"] == "explain"
        assert "locked: no new joins" in (await ada.ok("sessions", "show", str(session.id))).out
        nothing = await ada.run("sessions", "set")
        assert nothing.code == 1 and "give --title, --tutor, --lock or --unlock" in nothing.err
        bad_mode = await ada.run("sessions", "set", "--tutor", "lecture")
        assert bad_mode.code == 2

        not_host = await bob.run("sessions", "set", "--unlock")
        assert not_host.code == 1 and "Traceback" not in not_host.err
        assert f"cannot change the session in session {session.id}" in not_host.err
        assert "hosts" in not_host.err
        await ada.ok("sessions", "set", "--unlock")

        rotated = await ada.ok("sessions", "rotate-code")
        code = (await ada_sdk.session(session.id)).join_code
        assert code != session.join_code
        assert f"new join code for session {session.id}: {code}" in rotated.out
        again = (await ada.ok("sessions", "rotate-code", str(session.id), "--json")).json()
        assert again["join_code"] == (await ada_sdk.session(session.id)).join_code != code
        refused = await bob.run("sessions", "rotate-code", str(session.id))
        assert refused.code == 1 and "cannot rotate the join code" in refused.err

        left = await bob.ok("sessions", "leave")
        assert f"left session {session.id}" in left.out
        assert bob_name not in roles((await ada.ok("members", "list", "--json")).json())
        # One who left may come back.
        await bob_sdk.join(again["join_code"])
        creator = await ada.run("sessions", "leave", str(session.id))
        assert creator.code == 1 and f"cannot leave session {session.id}" in creator.err
        assert "end it instead" in creator.err

        await ada_sdk.end_session(session.id)
        none = await bob.run("members", "list")
        assert none.code == 1 and "no current session" in none.err
