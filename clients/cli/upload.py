"""``studyroom upload``: send a study material to a topic, with a progress bar."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from clients.cli.display import JsonOption
from clients.cli.runtime import describe_detail, fail, print_json, run, signed_in_client, stdout

if TYPE_CHECKING:
    from clients.sdk import StudyroomClient
    from clients.sdk.models import Topic


def register_commands(app: typer.Typer, panel: str) -> None:
    @app.command(rich_help_panel=panel)
    def upload(
        file: Annotated[Path, typer.Argument(help="A PDF, Markdown or plain text file.")],
        topic: Annotated[int, typer.Option("--topic", "-t", help="The topic's id.", min=1)],
        as_json: JsonOption = False,
    ) -> None:
        """Upload a study material to one of your topics; the tutor searches it."""
        run(_upload(file, topic, as_json))

    @app.command(rich_help_panel=panel)
    def download(
        material: Annotated[int, typer.Argument(help="The material's id.", min=1)],
        output: Annotated[
            Path | None,
            typer.Option("--output", "-o", help="Where to save it (default: its name, here)."),
        ] = None,
    ) -> None:
        """Save a study material's file, byte for byte as it was uploaded."""
        run(_download(material, output))


async def _download(material_id: int, output: Path | None) -> None:
    async with signed_in_client() as client:
        material = await client.material(material_id)
        # Only the file's own name: never a path the server's answer could point elsewhere.
        target = output or Path(Path(material.filename).name or f"material-{material_id}")
        if target.exists():
            fail(f"{target} exists: choose another with --output")
        written = await client.download(material_id, target)
    stdout().print(f"saved {target} ({size(written)})")


def readable_file(path: Path) -> Path:
    if not path.exists():
        fail(f"no such file: {path}")
    if not path.is_file():
        fail(f"not a file: {path}")
    if not os.access(path, os.R_OK):
        fail(f"cannot read {path}: permission denied")
    return path


def file_bytes_sent(sent: int, total: int, file_size: int) -> int:
    """How much of the file itself has gone, from the SDK's count of multipart body bytes.

    The body is a header part, the file, then a closing boundary; ``total - file_size`` is
    those two together. Counting all of it as the file's would show "417/417 bytes" for a
    220-byte file. Subtracting the whole overhead (the SDK does not say how it splits) lags
    the real figure by the closing boundary, some 50 bytes, and is exact at 0 and at the end.
    """
    overhead = max(0, total - file_size)
    return max(0, min(file_size, sent - overhead))


async def check_topic(client: StudyroomClient, topic_id: int) -> Topic:
    """Refuse before a byte is read: the server would take the whole file, then answer 404."""
    from clients.sdk import ApiError

    try:
        topic = await client.topic(topic_id)
    except ApiError as exc:
        if exc.status in (403, 404):
            fail(f"no topic {topic_id} of yours: see your topics with `studyroom topics`")
        raise
    me = await client.me()
    if topic.owner_id != me.id:
        fail(f"topic {topic_id} ({topic.title}) is someone else's: only its owner adds materials")
    return topic


def size(n_bytes: int) -> str:
    if n_bytes < 1000:
        return f"{n_bytes} bytes"
    value = n_bytes / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


async def _upload(file: Path, topic_id: int, as_json: bool) -> None:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TransferSpeedColumn,
    )

    from clients.sdk import ApiError

    path = readable_file(file)
    file_size = path.stat().st_size
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=stdout(),
        # Scripts that asked for JSON get JSON alone on stdout.
        disable=as_json,
    )
    task = progress.add_task(f"uploading {path.name}", total=file_size or None)

    def advance(sent: int, total: int) -> None:
        progress.update(task, completed=file_bytes_sent(sent, total, file_size))
        if sent >= total:
            progress.update(task, description=f"processing {path.name}")

    async with signed_in_client() as client:
        await check_topic(client, topic_id)
        try:
            with progress:
                material = await client.upload(topic_id, path, on_progress=advance)
                progress.update(task, description=f"uploaded {path.name}")
        except ApiError as exc:
            if exc.status == 413:
                fail(f"{path.name} is too large for this server: {describe_detail(exc.detail)}")
            if exc.status == 415:
                fail(f"the server cannot use {path.name}: {describe_detail(exc.detail)}")
            raise
    if as_json:
        print_json(material.model_dump(mode="json"))
        return
    pages = f"{material.pages} pages, " if material.pages is not None else ""
    stdout().print(
        f"stored {material.filename} as material {material.id} of topic {material.topic_id}: "
        f"{pages}{material.chunks} chunks, {size(material.size_bytes)}"
    )
