"""``studyroom chat``: a session's live room in the terminal."""

from __future__ import annotations

from typing import Annotated

import typer

from clients.cli.runtime import run


def register_commands(app: typer.Typer, panel: str) -> None:
    @app.command(rich_help_panel=panel)
    def chat(
        session_id: Annotated[
            int | None,
            typer.Argument(help="The session (default: your current one).", min=1),
        ] = None,
        plain: Annotated[
            bool, typer.Option("--plain", help="Plain lines even on a terminal.")
        ] = False,
        history: Annotated[
            int, typer.Option("--history", min=0, max=500, help="Earlier messages to show.")
        ] = 20,
    ) -> None:
        """Enter a session's room: chat, ask the tutor (? question), answer quizzes.

        Type /help in the room for its commands; /quit or end of input leaves.
        """
        from clients.cli.chat.room import chat as chat_in_room

        raise typer.Exit(run(chat_in_room(session_id, plain, history)))
