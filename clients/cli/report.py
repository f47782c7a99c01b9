"""``studyroom report``: one session's numbers and the caller's study history with a chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from clients.cli.display import NONE, JsonOption, bar, duration, number, percent
from clients.cli.runtime import print_json, run, signed_in_client, stdout

if TYPE_CHECKING:
    from rich.console import RenderableType

    from clients.sdk.models import HistoryBucket, SessionReport

DAYS_SHOWN = 14
WEEKS_SHOWN = 12
BAR_WIDTH = 32


def register_commands(app: typer.Typer, panel: str) -> None:
    @app.command(rich_help_panel=panel)
    def report(
        session_id: Annotated[
            int | None,
            typer.Argument(help="The session (default: your current one).", min=1),
        ] = None,
        days: Annotated[
            int | None,
            typer.Option(
                "--days",
                min=1,
                max=366,
                help=f"History window in days (default {DAYS_SHOWN}, or {WEEKS_SHOWN} weeks).",
                show_default=False,
            ),
        ] = None,
        week: Annotated[
            bool, typer.Option("--week", help="History per week, not per day.")
        ] = False,
        as_json: JsonOption = False,
    ) -> None:
        """A session's report and your study history, with a chart of your study time."""
        window = days if days is not None else (WEEKS_SHOWN * 7 if week else DAYS_SHOWN)
        run(_report(session_id, window, "week" if week else "day", as_json))


def report_table(report: SessionReport, title: str) -> RenderableType:
    from rich.table import Table

    ttft = NONE if report.ttft_ms_p50 is None else f"{report.ttft_ms_p50:.0f} ms"
    rows = [
        ("duration", duration(report.duration_s)),
        ("participants", str(report.participants)),
        ("messages", str(report.messages)),
        ("questions", str(report.questions)),
        ("tutor turns", str(report.tutor_turns)),
        ("tokens", f"{report.tokens_in} in / {report.tokens_out} out"),
        ("first token (p50)", ttft),
        ("quiz answers", str(report.quiz_answers)),
        ("quiz accuracy", percent(report.quiz_accuracy)),
    ]
    table = Table(show_header=False, title=title, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table


def bucket_label(bucket: HistoryBucket, kind: str) -> str:
    start = bucket.bucket_start
    return f"week of {start:%Y-%m-%d}" if kind == "week" else f"{start:%a %Y-%m-%d}"


def history_table(history: list[HistoryBucket], kind: str) -> RenderableType:
    from rich.table import Table

    table = Table(title=f"Study history per {kind}", title_justify="left")
    table.add_column(kind)
    for name in ("minutes", "questions", "quiz answers", "accuracy", "tokens"):
        table.add_column(name, justify="right")
    for bucket in history:
        table.add_row(
            bucket_label(bucket, kind),
            f"{bucket.study_minutes:.1f}",
            str(bucket.questions),
            str(bucket.quiz_answers),
            percent(bucket.quiz_accuracy),
            str(bucket.tokens),
        )
    return table


def minutes_chart(history: list[HistoryBucket], kind: str) -> RenderableType:
    from rich.table import Table
    from rich.text import Text

    largest = max((b.study_minutes for b in history), default=0.0)
    chart = Table(
        show_header=False, box=None, title=f"Study minutes per {kind}", title_justify="left"
    )
    chart.add_column(style="dim")
    chart.add_column(no_wrap=True)
    for bucket in history:
        line = Text(bar(bucket.study_minutes, largest, BAR_WIDTH), style="green")
        line.append(f" {number(round(bucket.study_minutes, 1))}")
        chart.add_row(bucket_label(bucket, kind), line)
    return chart


BucketKind = Literal["day", "week"]


async def _report(session_id: int | None, days: int, kind: BucketKind, as_json: bool) -> None:
    start = datetime.now(UTC).date() - timedelta(days=days - 1)
    async with signed_in_client() as client:
        if session_id is None:
            current = await client.current_session()
            session_id = current.id if current else None
        report = await client.report(session_id) if session_id is not None else None
        session = await client.session(session_id) if session_id is not None else None
        history = await client.history(start=start, bucket=kind)
    if as_json:
        print_json(
            {
                "session_id": session_id,
                "report": report.model_dump(mode="json") if report else None,
                "history": [b.model_dump(mode="json") for b in history],
            }
        )
        return
    out = stdout()
    if report is not None and session is not None:
        out.print(report_table(report, f"Session {session.id}: {session.title}"))
    else:
        out.print("no current session: showing your study history only", style="dim")
    out.print(history_table(history, kind))
    if any(b.study_minutes > 0 for b in history):
        out.print(minutes_chart(history, kind))
    else:
        out.print(f"no study time in the last {days} days yet", style="dim")
