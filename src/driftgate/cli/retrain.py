"""`driftgate retrain`: new few-shot set / index versions from new labels, a prompt version
bound to them, gated against the base; `candidate` points at it when the gate passes."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._common import JsonOption, WorkspaceOption, print_json, workspace
from .run import QuietOption


@app.command("retrain")
def retrain_cmd(
    prompt: str = typer.Argument(
        ...,
        help="The base prompt: NAME@LABEL (a file's version label) or a registry ref "
        "(NAME@production, NAME@3); or route/NAME to train that route's rule.",
    ),
    route: str = typer.Option(
        None, "--route", help="Take labeled rows from this route's user feedback."
    ),
    labels: list[Path] = typer.Option(
        None,
        "--labels",
        help="A golden-set file of new labeled rows: vars + expected (repeatable).",
    ),
    suite: Path = typer.Option(
        None, "--suite", "-c", help="Suite to evaluate with (default: the workspace's)."
    ),
    model: str = typer.Option(
        None, "--model", "-m", help="The model to gate on, when the suite runs several."
    ),
    since: float = typer.Option(
        None, "--since", help="Only route feedback logged after this unix time counts."
    ),
    alias: str = typer.Option(
        "candidate", "--alias", help="The alias a passing candidate is pointed at."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Build, register, evaluate and gate, but move no alias."
    ),
    quiet: bool = QuietOption,
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Register new few-shot set / index versions built from new labeled data and a prompt
    version bound to them, evaluate it against the base on the suite, and point the
    `candidate` alias at it if the gate passes. Never writes workspace files and never
    moves production (promote the candidate for that).

    `driftgate retrain route/NAME` trains the route's rule instead (its `learn:` block):
    from labeled traffic and shadow answers, gated on newer held-out traffic against each
    single choice and the rule serving now; `candidate` of rule/NAME points at it on a pass.

    Exit codes: 0 candidate registered and alias set, 1 gate failed, 2 bad input.
    With --dry-run, 0 means the gate passed (no alias moved); 0 also when the labels
    change nothing (no new version). A failed gate moves no alias; bad input is no
    labels, nothing to retrain, a bad alias.
    """
    if prompt.startswith("route/"):
        _retrain_route(prompt.removeprefix("route/"), since, dry_run, alias, json_out, ws_path)
    from ..engine.progress import quiet as quiet_progress
    from ..report.retrain import render_result
    from ..retraining import retrain

    # The gate's eval runs show progress (a status line every 10 s off a terminal) unless --quiet.
    with quiet_progress(quiet):
        result = retrain(
            prompt,
            route=route,
            labels=[str(p) for p in labels or []],
            suite=suite,
            workspace=workspace(ws_path),
            model=model,
            since=since,
            dry_run=dry_run,
            alias=alias,
        )
    if json_out:
        print_json(result.model_dump(mode="json"))
    else:
        print(render_result(result))
    raise typer.Exit(result.exit_code)


def _retrain_route(
    route: str, since: float | None, dry_run: bool, alias: str, json_out: bool, ws_path: Path
) -> None:
    from ..report.retrain_route import render_route_retrain
    from ..retraining.route_rule import retrain_route

    result = retrain_route(
        route, workspace=workspace(ws_path), since=since, dry_run=dry_run, alias=alias
    )
    if json_out:
        print_json(result.model_dump(mode="json"))
    else:
        print(render_route_retrain(result))
    raise typer.Exit(result.exit_code)
