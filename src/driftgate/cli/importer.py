"""`driftgate import promptfoo FILE`: another tool's evals as driftgate's own files."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app

import_app = typer.Typer(
    help="Convert another tool's evals into driftgate files (prompts, golden set, suite).",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")


@import_app.command("promptfoo")
def promptfoo(
    config: Path = typer.Argument(..., help="The promptfoo config (promptfooconfig.yaml)."),
    out: Path = typer.Option(
        Path("."), "--out", help="Folder for prompts/, evalsets/ and the suite (default: here)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist."),
) -> None:
    """Write prompts/*.yaml, evalsets/NAME.jsonl and NAME.suite.yaml from a promptfoo config;
    `driftgate run -c NAME.suite.yaml` then gives what `driftgate run -c CONFIG` gives."""
    from ..compat.promptfoo import translate
    from ..compat.promptfoo_files import write
    from ..workspace import Workspace

    ws = Workspace.find()
    tr = translate(config, ws)
    suite = write(tr, out, ws, force=force)
    if suite.is_relative_to(Path.cwd()):
        suite = suite.relative_to(Path.cwd())
    typer.echo(
        f"{len(tr.prompts)} prompt(s), {len(tr.cases)} case(s), {len(tr.models)} model(s) "
        f"→ {suite}\nrun it: driftgate run -c {suite}"
    )
