"""`driftgate demo`: the product's story on the example workspace, offline, step by step."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._common import WorkspaceOption, workspace


@app.command("demo")
def demo_cmd(
    dest: Path = typer.Option(
        Path("runs/demo"),
        "--dir",
        help="Where the demo's fresh copy of the workspace goes (replaced on every run).",
    ),
    max_turns: int = typer.Option(10, "--max-turns", min=1, help="Loop turns at most."),
    ws_path: Path = WorkspaceOption,
) -> None:
    """Eval → serve with feedback → drift alarm → retrain → shadow → canary → promotion →
    rollback, on the embedding classifier (`local/knn`), offline, in a copy of the example
    workspace. One line per step, each with its report."""
    from ..examples.story import Step, tell
    from ..report import write_report
    from ..report.story import next_steps, step_line, step_text

    source = workspace(ws_path)
    dest = dest if dest.is_absolute() else source.root / dest
    reports = dest.parent / f"{dest.name}-reports"
    reports.mkdir(parents=True, exist_ok=True)
    count = 0

    def on_step(step: Step) -> None:
        nonlocal count
        count += 1
        report = None
        if step.run is not None:
            report = reports / f"{count:02d}-{step.key}.md"
            write_report(report, step.run.manifest, step.run.results)
            write_report(report.with_suffix(".html"), step.run.manifest, step.run.results)
        elif (text := step_text(step)) is not None:
            report = reports / f"{count:02d}-{step.key}.txt"
            report.write_text(text, encoding="utf-8")
        print(step_line(step, count, _relative(report)), flush=True)

    print(f"driftgate demo: a fresh copy of the example workspace in {_relative(dest)}")
    tell(source, dest, on_step, max_turns=max_turns)
    print(next_steps(_relative(dest) or dest))


def _relative(path: Path | None) -> Path | None:
    if path is None:
        return None
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path
