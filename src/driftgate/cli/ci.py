"""`driftgate ci`: the pull-request gate (base against head, paired, with gate policies)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._app import app
from ._common import WorkspaceOption, workspace

if TYPE_CHECKING:
    from ..ci import CIOptions, CIReport
    from ..workspace import Workspace


@app.command("ci")
def ci_cmd(
    base: str = typer.Option(
        ..., "--base", help="Base ref the pull request merges into, e.g. origin/main."
    ),
    head: str = typer.Option(None, "--head", help="Head ref (default: the checked-out commit)."),
    config: list[str] = typer.Option(
        None,
        "--config",
        "-c",
        help="Only these suite files (repeatable; default: every *.suite.yaml).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print calls, cached share and estimated cost; call nothing."
    ),
    budget_usd: float = typer.Option(
        None,
        "--budget-usd",
        min=0,
        help="Refuse to start when the estimated cost is above this (USD).",
    ),
    summary: Path = typer.Option(None, "--summary", help="Write the PR-comment Markdown here."),
    junit: Path = typer.Option(None, "--junit", help="Write JUnit XML (one test per gate rule)."),
    html: Path = typer.Option(
        None,
        "--html",
        help="Write the gate report: one self-contained HTML page, every gated arm with its comparison.",
    ),
    policy: Path = typer.Option(
        None,
        "--policy",
        help="Gate policy file (default: gates/PROMPT.yaml, gates/default.yaml, built in).",
    ),
    allow_dirty: bool = typer.Option(
        False, "--allow-dirty", help="Evaluate the work tree even with uncommitted changes."
    ),
    flipped: int = typer.Option(
        10, "--flipped", min=0, help="Show up to N worst flipped cases per arm."
    ),
    ws_path: Path = WorkspaceOption,
) -> None:
    """Gate a pull request: evaluate the suites its changes affect, at the head and at the
    merge base (stored results first), compare them paired and apply the gate policies.

    \b
    Exit codes: 0 passed (or nothing relevant changed), 1 a gate failed or a changed file
    does not parse, 2 bad input (unknown ref, shallow clone, dirty tree, over budget),
    3 provider errors.
    """
    from ..ci import CIOptions

    opts = CIOptions(
        base=base,
        head=head,
        suites=list(config or []),
        dry_run=dry_run,
        budget_usd=budget_usd,
        summary=summary,
        junit=junit,
        html=html,
        policy=policy,
        allow_dirty=allow_dirty,
        max_flipped=flipped,
    )
    report = run_gate(opts, workspace=workspace(ws_path), echo=typer.echo)
    raise typer.Exit(report.exit_code)


def run_gate(
    options: CIOptions,
    *,
    workspace: Workspace | Path | str | None = None,
    echo: Callable[[str], None] = print,
) -> CIReport:
    """Run the gate (`driftgate.ci.run_ci`), then write the outputs `options` asks for
    (`driftgate.report.ci_outputs`). Bad input raises a DriftgateError (exit 2) after the
    summary file and the job summary say what went wrong."""
    from ..ci import run_ci
    from ..errors import EXIT_BAD_INPUT, DriftgateError
    from ..report.ci_outputs import write_failure, write_outputs

    try:
        report = run_ci(options, workspace=workspace, echo=echo)
    except DriftgateError as exc:
        if exc.exit_code == EXIT_BAD_INPUT:
            write_failure(options, exc, echo)
        raise
    write_outputs(report, options, echo)
    return report
