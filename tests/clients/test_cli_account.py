"""Registering with mistakes, renaming, changing the password and deleting an account, through
the real command and server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clients.cli.account import account_problems
from clients.cli.runtime import describe_detail
from clients.sdk import ApiError, StudyroomClient
from tests.clients.cli_support import PASSWORD, Cli, sdk_user

# The client sees only the API, the same on both engines.
embedded = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


@pytest.mark.parametrize(
    ("parts", "problems"),
    [
        ({"username": "ada", "password": PASSWORD}, []),
        (
            {"username": "a!", "password": "short"},
            [
                "the username must be at least 3 characters long (it has 2)",
                "the username may hold only letters, digits and . _ -",
                "the password must be at least 8 characters long (it has 5)",
            ],
        ),
        (
            {"display_name": "  ", "password": "x" * 257},
            [
                "the display name must be at least 1 character long (it has 0)",
                "the password must be at most 256 characters long (it has 257)",
            ],
        ),
    ],
)
def test_account_problems_are_all_said_in_words(parts: dict[str, str], problems: list[str]) -> None:
    assert account_problems(**parts) == problems


@embedded
async def test_the_servers_validation_list_reads_as_sentences(server: Any) -> None:
    async with StudyroomClient(server.base_url) as client:
        with pytest.raises(ApiError) as refused:
            await client.register("a!", "short")
    assert refused.value.status == 422
    said = describe_detail(refused.value.detail)
    assert "the username must be at least 3 characters long" in said
    assert "the password must be at least 8 characters long" in said
    assert "String should" not in said and "body." not in said


@embedded
async def test_register_says_every_problem_before_anything_is_sent(
    server: Any, tmp_path: Path
) -> None:
    cli = Cli(tmp_path / "config.json")
    bad = await cli.run(
        "register", "--server", server.base_url, "-u", "a!", "--password-stdin", stdin="short\n"
    )
    assert bad.code == 1
    assert "the username must be at least 3 characters long" in bad.err
    assert "the username may hold only letters, digits and . _ -" in bad.err
    assert "the password must be at least 8 characters long (it has 5)" in bad.err
    assert not (tmp_path / "config.json").exists()


@embedded
async def test_delete_account_asks_checks_the_password_and_forgets_the_login(
    server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    name = unique("ada")
    config = tmp_path / "config.json"
    cli = Cli(config)
    async with sdk_user(server.base_url, name) as sdk:
        topic = await sdk.create_topic("Graphs")
    await cli.login(server.base_url, name)

    kept = await cli.run("delete-account", stdin="n\n")
    assert kept.code == 1 and "nothing deleted" in kept.err
    unconfirmable = await cli.run("delete-account", "--password-stdin", stdin=PASSWORD + "\n")
    assert unconfirmable.code == 1 and "add --yes" in unconfirmable.err
    wrong = await cli.run("delete-account", "--yes", "--password-stdin", stdin="not it at all\n")
    assert wrong.code == 1 and "wrong password: nothing was deleted" in wrong.err
    assert name in (await cli.ok("whoami")).out

    deleted = await cli.ok("delete-account", "--yes", "--password-stdin", stdin=PASSWORD + "\n")
    assert f"deleted the account {name} at {server.base_url}" in deleted.out
    saved = json.loads(config.read_text())
    assert saved["access_token"] is None and saved["server"] == server.base_url
    gone = await cli.run("login", "-u", name, "--password-stdin", stdin=PASSWORD + "\n")
    assert gone.code == 1 and "wrong username or password" in gone.err
    signed_out = await cli.run("topics")
    assert signed_out.code == 1 and "not logged in" in signed_out.err
    async with sdk_user(server.base_url, unique("bob")) as other:
        with pytest.raises(ApiError) as missing:
            await other.topic(topic.id)
    assert missing.value.status == 404


@embedded
async def test_rename_and_passwd_change_the_account(
    server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    name = unique("ada")
    cli = Cli(tmp_path / "config.json")
    async with sdk_user(server.base_url, name):
        pass
    await cli.login(server.base_url, name)

    blank = await cli.run("rename", "  ")
    assert blank.code == 1 and "the display name must be at least 1 character long" in blank.err
    renamed = await cli.ok("rename", "Ada L.")
    assert "the others now see you as Ada L." in renamed.out

    new = "a much better password"
    short = await cli.run("passwd", "--password-stdin", stdin=f"{PASSWORD}\nshort\n")
    assert short.code == 1 and "the password must be at least 8 characters long" in short.err
    wrong = await cli.run("passwd", "--password-stdin", stdin=f"not it at all\n{new}\n")
    assert wrong.code == 1 and "wrong current password" in wrong.err
    changed = await cli.ok("passwd", "--password-stdin", stdin=f"{PASSWORD}\n{new}\n")
    assert "password changed" in changed.out

    old = await cli.run("login", "-u", name, "--password-stdin", stdin=PASSWORD + "\n")
    assert old.code == 1 and "wrong username or password" in old.err
    await cli.login(server.base_url, name, new)
    async with StudyroomClient(server.base_url) as client:
        await client.login(name, new)
        assert (await client.me()).display_name == "Ada L."
