"""`driftgate loop ROUTE`: one turn of the route's retraining loop, for cron and CI schedules."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._common import JsonOption, WorkspaceOption, print_json, workspace
from .run import QuietOption, progress_mode


@app.command("loop")
def loop_cmd(
    route: str = typer.Argument(..., help="A route name (routes/NAME.yaml) or a route file."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Say what the next step would be; change nothing."
    ),
    progress: bool = typer.Option(
        None,
        "--progress/--no-progress",
        help="Progress of eval runs: a bar on a terminal, else a status line every 10 s.",
    ),
    quiet: bool = QuietOption,
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Drift → labels → retrain → gate → shadow → canary → promotion (or revert), one step
    per run. Idempotent: run it every few minutes; a killed run is finished by the next.

    Exit codes: 0 ok (nothing to do, or a step taken), 1 needs attention (a candidate was
    reverted, a retrain failed its gate, an alarm with no new labels), 2 bad input.
    """
    from ..loops import run_loop
    from ..report.loop import render_loop

    result = run_loop(
        route,
        workspace=workspace(ws_path),
        dry_run=dry_run,
        progress=progress_mode(progress, quiet) != "off",
    )
    if json_out:
        print_json(
            {
                "route": result.route,
                "phase_before": result.phase_before,
                "phase": result.phase,
                "dry_run": result.dry_run,
                "exit_code": result.exit_code,
                "events": [e.model_dump(mode="json") for e in result.events],
            }
        )
    else:
        print(render_loop(result))
    raise typer.Exit(result.exit_code)
