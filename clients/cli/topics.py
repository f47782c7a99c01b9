"""``studyroom topics``: list the caller's topics, create one."""

from __future__ import annotations

from typing import Annotated

import typer

from clients.cli.display import JsonOption, when
from clients.cli.runtime import fail, print_json, run, signed_in_client, stdout

topics_app = typer.Typer(
    help="Your topics: `studyroom topics` lists them, `topics create` adds one.",
    invoke_without_command=True,
)


@topics_app.callback()
def list_topics(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Your topics (see also `topics create`)."""
    if ctx.invoked_subcommand is None:
        run(_list(as_json))


@topics_app.command("create")
def create_topic(
    title: Annotated[str, typer.Argument(help="The topic's title.")],
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a topic to study; upload materials to it and start sessions on it."""
    run(_create(title, description, as_json))


async def _list(as_json: bool) -> None:
    from rich.table import Table

    async with signed_in_client() as client:
        topics = await client.topics()
    if as_json:
        print_json([t.model_dump(mode="json") for t in topics])
        return
    if not topics:
        stdout().print("no topics yet: create one with `studyroom topics create TITLE`")
        return
    table = Table("id", "title", "description", "created", title="Topics")
    for topic in topics:
        table.add_row(str(topic.id), topic.title, topic.description or "", when(topic.created_at))
    stdout().print(table)


async def _create(title: str, description: str | None, as_json: bool) -> None:
    if not title.strip():
        fail("the title must not be blank")
    async with signed_in_client() as client:
        topic = await client.create_topic(title.strip(), description)
    if as_json:
        print_json(topic.model_dump(mode="json"))
        return
    stdout().print(f"created topic {topic.id}: {topic.title}")
