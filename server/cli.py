"""The ``studyroom`` command: run the server and manage its database."""

from __future__ import annotations

import logging
import os
import secrets

import typer

from clients.cli import add_client_commands
from server.config import Settings

app = typer.Typer(
    help="studyroom: real-time study sessions with an AI tutor.", no_args_is_help=True
)


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to bind (default: STUDYROOM_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to bind (default: STUDYROOM_PORT or 8000)."),
    workers: int = typer.Option(
        None, min=1, help="Worker processes (default: STUDYROOM_WORKERS or 1); needs Redis."
    ),
) -> None:
    """Serve REST and room sockets; migrates an embedded SQLite database first."""
    import uvicorn

    from server.db.engine import is_sqlite
    from server.db.migrate import migrate
    from server.runner import uvicorn_options

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings()
    host = host or settings.host
    port = settings.port if port is None else port
    workers = workers or settings.workers
    if workers > 1 and settings.live_state_is_memory:
        typer.echo(
            "several workers share rooms only through Redis: set STUDYROOM_REDIS_URL", err=True
        )
        raise typer.Exit(2)
    if workers > 1 and not settings.secret_key:
        # Every worker must sign and check tokens with the same key.
        os.environ["STUDYROOM_SECRET_KEY"] = "dev-insecure-" + secrets.token_urlsafe(32)
        logging.getLogger("studyroom").warning(
            "STUDYROOM_SECRET_KEY is not set: using a random development key for this run"
        )
    if is_sqlite(settings.database_url):
        migrate(settings.database_url, pgbouncer=settings.database_pgbouncer)
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        **uvicorn_options(settings),
    )


@app.command("migrate")
def migrate_command() -> None:
    """Apply database migrations to STUDYROOM_DATABASE_URL."""
    from server.db.migrate import migrate

    settings = _settings()
    migrate(settings.database_url, pgbouncer=settings.database_pgbouncer)
    typer.echo("database is up to date")


# The learner's terminal client (login, topics, sessions, chat, upload, report, …).
add_client_commands(app)


def main() -> None:
    app(prog_name="studyroom")


if __name__ == "__main__":
    main()
