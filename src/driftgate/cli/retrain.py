"""`driftgate retrain`: rebuild a prompt's few-shot set / index from new labels, gate, apply."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._common import JsonOption, WorkspaceOption, print_json, workspace


@app.command("retrain")
def retrain_cmd(
    prompt: str = typer.Argument(
        ..., help="The prompt whose artifacts to rebuild: NAME or NAME@VERSION (a file's label)."
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
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Build, evaluate and gate, but write nothing."
    ),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Rebuild a prompt's few-shot set and/or index from new labeled data, evaluate it
    against the current one, and apply it if the gate passes.

    Exit codes: 0 applied (or, with --dry-run, would apply), 1 gate failed (nothing
    written), 2 bad input (no labels, nothing to retrain).
    """
    from ..retrain import render_result, retrain

    result = retrain(
        prompt,
        route=route,
        labels=[str(p) for p in labels or []],
        suite=suite,
        workspace=workspace(ws_path),
        model=model,
        apply=not dry_run,
    )
    if json_out:
        print_json(result.model_dump(mode="json"))
    else:
        print(render_result(result))
    raise typer.Exit(result.exit_code)
