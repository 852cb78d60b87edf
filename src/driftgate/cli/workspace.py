"""`driftgate init` and `driftgate schema`."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app


@app.command("init")
def init(
    directory: Path = typer.Argument(Path("."), help="Folder to make a workspace."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
) -> None:
    """Scaffold a workspace: settings, an example prompt, golden set and suite."""
    from ..scaffold import init_workspace

    for path in init_workspace(directory, force=force):
        print(f"wrote {path}")
    print(f"next: cd {directory} && driftgate run")


@app.command("schema")
def schema(
    out: Path = typer.Option(
        Path(".driftgate/schema"), "--out", "-o", help="Folder for the schema files."
    ),
) -> None:
    """Write JSON Schemas of every config file, for editor completion and checks."""
    from ..scaffold import write_schemas

    for path in write_schemas(out):
        print(f"wrote {path}")
