"""The terminal client: ``studyroom`` commands for learners, built on the SDK.

Only typer and the standard library are imported here; the SDK and rich load when a client
command runs, so ``studyroom serve`` does not pay for them.
"""

from __future__ import annotations

import typer

from clients.cli import account, goals, report, typer_help, upload
from clients.cli import chat as chat_command
from clients.cli.goals import goals_app
from clients.cli.members import members_app
from clients.cli.sessions import sessions_app
from clients.cli.topics import topics_app

ACCOUNT_PANEL = "Account"
STUDY_PANEL = "Studying"


def add_client_commands(app: typer.Typer) -> None:
    """Add the learner commands (login, topics, sessions, members, chat, upload…) to ``app``."""
    typer_help.install()
    account.register_commands(app, ACCOUNT_PANEL)
    app.add_typer(topics_app, name="topics", rich_help_panel=STUDY_PANEL)
    app.add_typer(sessions_app, name="sessions", rich_help_panel=STUDY_PANEL)
    app.add_typer(members_app, name="members", rich_help_panel=STUDY_PANEL)
    chat_command.register_commands(app, STUDY_PANEL)
    upload.register_commands(app, STUDY_PANEL)
    report.register_commands(app, STUDY_PANEL)
    app.add_typer(goals_app, name="goals", rich_help_panel=STUDY_PANEL)
    goals.register_commands(app, STUDY_PANEL)
