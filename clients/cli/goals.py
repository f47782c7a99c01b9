"""``studyroom goals`` (study goals with progress bars) and ``studyroom progress`` (mastery)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from clients.cli.display import JsonOption, day, meter, number, when
from clients.cli.runtime import fail, print_json, run, signed_in_client, stdout

if TYPE_CHECKING:
    from rich.text import Text

    from clients.sdk.models import Goal

MetricName = Literal["study_minutes", "questions_asked", "quiz_accuracy", "concepts_mastered"]

# How a target reads in a generated goal title.
METRIC_WORDING = {
    "study_minutes": "minutes of study",
    "questions_asked": "questions asked",
    "quiz_accuracy": "quiz accuracy",
    "concepts_mastered": "concepts mastered",
}

TopicFilter = Annotated[
    int | None, typer.Option("--topic", "-t", help="Only this topic.", min=1, show_default=False)
]

goals_app = typer.Typer(
    help="Study goals: `studyroom goals` lists them, `goals create` sets one.",
    invoke_without_command=True,
)


@goals_app.callback()
def list_goals(ctx: typer.Context, topic: TopicFilter = None, as_json: JsonOption = False) -> None:
    """Your goals and how far along they are."""
    if ctx.invoked_subcommand is None:
        run(_list(topic, as_json))


@goals_app.command("create")
def create_goal(
    topic: Annotated[int, typer.Option("--topic", "-t", help="The topic's id.", min=1)],
    metric: Annotated[MetricName, typer.Option("--metric", "-m", help="What to measure.")],
    target: Annotated[
        float,
        typer.Option("--target", help="Goal value; quiz_accuracy is a share from 0 to 1."),
    ],
    due: Annotated[
        datetime | None,
        typer.Option("--due", formats=["%Y-%m-%d"], help="Due date, YYYY-MM-DD."),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="Default: made from the target.")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            "--since",
            formats=["%Y-%m-%d"],
            help="Count from the start of this day, YYYY-MM-DD. Default: from now.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Set a goal on a topic, e.g. `--metric study_minutes --target 120 --due 2025-06-30`."""
    run(_create(topic, metric, target, due, title, since, as_json))


@goals_app.command("delete")
def delete_goal(goal_id: Annotated[int, typer.Argument(help="The goal's id.", min=1)]) -> None:
    """Remove a goal."""
    run(_delete(goal_id))


def register_commands(app: typer.Typer, panel: str) -> None:
    @app.command(rich_help_panel=panel)
    def progress(topic: TopicFilter = None, as_json: JsonOption = False) -> None:
        """Your mastery of each concept the tutor has worked on with you."""
        run(_progress(topic, as_json))


def progress_bar(share: float) -> Text:
    from rich.text import Text

    filled = meter(share, width=12)
    return Text(filled, style="green" if share >= 1 else "")


def short_day(moment: date, today: date | None = None) -> str:
    """``3 Dec``, with the year when it is not this one."""
    today = today or date.today()
    year = "" if moment.year == today.year else f" {moment.year}"
    return f"{moment.day} {moment:%b}{year}"


def goal_since(goal: Goal) -> date | None:
    """When the goal started counting, as a local day; servers before ``since`` send none."""
    return goal.since.astimezone().date() if goal.since else None


def goal_status(goal: Goal, today: date | None = None) -> str:
    """``2 of 5 questions asked since 3 Dec``: goals count only what came after them."""
    since = goal_since(goal)
    after = f" since {short_day(since, today)}" if since else ""
    wording = METRIC_WORDING[goal.metric]
    if goal.metric == "quiz_accuracy":
        now = "no quiz answers yet" if goal.value is None else f"{goal.value:.0%} {wording}"
        return f"{now}{after} (goal {goal.target:.0%})"
    now = "0" if goal.value is None else number(round(goal.value, 2))
    return f"{now} of {number(goal.target)} {wording}{after}"


def goal_title(metric: str, target: float) -> str:
    if metric == "quiz_accuracy":
        return f"{target:.0%} {METRIC_WORDING[metric]}"
    return f"{number(target)} {METRIC_WORDING[metric]}"


async def _list(topic_id: int | None, as_json: bool) -> None:
    from rich.table import Table

    async with signed_in_client() as client:
        goals = await client.goals(topic_id)
    if as_json:
        print_json([g.model_dump(mode="json") for g in goals])
        return
    if not goals:
        stdout().print("no goals yet: set one with `studyroom goals create`")
        return
    table = Table("id", "topic", "goal", "so far", "due", title="Goals")
    table.add_column("progress", no_wrap=True)
    for goal in goals:
        table.add_row(
            str(goal.id),
            str(goal.topic_id),
            goal.title,
            goal_status(goal),
            day(goal.due_date),
            progress_bar(goal.progress),
        )
    stdout().print(table)
    if any(goal_since(g) for g in goals):
        stdout().print("a goal counts only what you do after it was set", style="dim")


async def _create(
    topic_id: int,
    metric: MetricName,
    target: float,
    due: datetime | None,
    title: str | None,
    since: datetime | None,
    as_json: bool,
) -> None:
    if target <= 0:
        fail("--target must be greater than 0")
    if metric == "quiz_accuracy" and target > 1:
        fail("--target for quiz_accuracy is a share from 0 to 1, e.g. 0.8")
    if title is not None and not title.strip():
        fail("the title must not be blank")
    # The day starts at local midnight; the server takes an instant, so send it with its zone.
    start = since.astimezone() if since else None
    if start is not None and start.date() > date.today():
        fail("--since must be today or a day before: a goal cannot count from the future")
    name = title.strip() if title else goal_title(metric, target)
    async with signed_in_client() as client:
        goal = await client.create_goal(
            topic_id, name, metric, target, due.date() if due else None, since=start
        )
    if as_json:
        print_json(goal.model_dump(mode="json"))
        return
    stdout().print(f"created goal {goal.id}: {goal.title} — {goal_status(goal)}")


async def _delete(goal_id: int) -> None:
    async with signed_in_client() as client:
        await client.delete_goal(goal_id)
    stdout().print(f"deleted goal {goal_id}")


async def _progress(topic_id: int | None, as_json: bool) -> None:
    from rich.table import Table

    async with signed_in_client() as client:
        concepts = await client.progress(topic_id)
    if as_json:
        print_json([c.model_dump(mode="json") for c in concepts])
        return
    if not concepts:
        stdout().print("no concepts yet: ask the tutor and answer its quizzes")
        return
    table = Table("concept", title="Concept mastery")
    table.add_column("mastery", no_wrap=True)
    table.add_column("reviews", justify="right")
    table.add_column("next review")
    for concept in concepts:
        table.add_row(
            concept.concept,
            progress_bar(concept.mastery),
            str(concept.reviews),
            when(concept.next_review_at),
        )
    stdout().print(table)
