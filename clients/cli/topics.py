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


TopicIdArgument = Annotated[int, typer.Argument(help="The topic's id.", min=1)]


@topics_app.command("rename")
def rename_topic(
    topic_id: TopicIdArgument,
    title: Annotated[str | None, typer.Option("--title", help="The new title.")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a topic you own: its title, its description, or both."""
    run(_rename(topic_id, title, description, as_json))


@topics_app.command("delete")
def delete_topic(
    topic_id: TopicIdArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm.")] = False,
) -> None:
    """Delete a topic you own, with its materials, goals and progress (its sessions stay)."""
    run(_delete(topic_id, yes))


async def _rename(topic_id: int, title: str | None, description: str | None, as_json: bool) -> None:
    if title is None and description is None:
        fail("give --title, --description or both")
    if title is not None and not title.strip():
        fail("the title must not be blank")
    async with signed_in_client() as client:
        topic = await client.update_topic(
            topic_id, title=title.strip() if title else None, description=description
        )
    if as_json:
        print_json(topic.model_dump(mode="json"))
        return
    stdout().print(f"topic {topic.id} is now: {topic.title}")


async def _delete(topic_id: int, yes: bool) -> None:
    if not yes and not typer.confirm(
        f"delete topic {topic_id} with its materials, goals and progress?", default=False
    ):
        fail("nothing deleted")
    async with signed_in_client() as client:
        await client.delete_topic(topic_id)
    stdout().print(f"deleted topic {topic_id}")


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
