"""`driftgate review queue | decide`: the review queue from a terminal (the UI's Review page
calls the same library functions)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from ._app import app
from ._common import JsonOption, WorkspaceOption, print_json, workspace

review_app = typer.Typer(
    help="Review served answers worth a look (rejected, edited, disputed by a shadow, unsure, "
    "unfamiliar): decisions become feedback and golden cases. `driftgate ui` has a page for it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(review_app, name="review")


class Action(StrEnum):
    accept = "accept"
    correct = "correct"
    skip = "skip"


@review_app.command("queue")
def queue_cmd(
    route: str = typer.Argument(..., help="A route name (routes/NAME.yaml)."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Show the first N answers."),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """The route's queued answers, most useful first, and the labels each segment needs."""
    from ..review import review_queue

    queue = review_queue(workspace(ws_path), route)
    if json_out:
        data = queue.model_dump(mode="json")
        data["items"] = data["items"][:limit]
        print_json(data)
        return
    from ..report.review import render_queue

    render_queue(queue, limit=limit)


@review_app.command("decide")
def decide_cmd(
    item: str = typer.Argument(..., help="A queued answer: ROUTE/REQUEST_ID (from `queue`)."),
    action: Action = typer.Argument(..., help="accept, correct (with --label) or skip."),
    label: str = typer.Option(None, "--label", help="The right answer (with `correct`)."),
    reviewer: str = typer.Option(
        ..., "--reviewer", envvar="DRIFTGATE_USER", help="Who decides (stored with it)."
    ),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Record one decision: feedback with the reviewer, and a golden case (unless that input
    already is one). A second decision on the same answer stores nothing."""
    from ..review import record_review

    outcome = record_review(workspace(ws_path), item, action.value, reviewer=reviewer, label=label)
    if json_out:
        print_json(outcome.model_dump(mode="json"))
        return
    from ..report.review import decision_line

    print(decision_line(outcome))
