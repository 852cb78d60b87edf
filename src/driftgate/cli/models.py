"""`driftgate models pull|list`: the embedded local models."""

from __future__ import annotations

import typer

from ._app import app
from ._common import JsonOption, print_json

models_app = typer.Typer(help="Embedded local models (offline defaults).", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("pull")
def pull(
    name: list[str] = typer.Argument(None, help="Models to get (default: all)."),
    force: bool = typer.Option(
        False, "--force", help="Download and convert again (repairs a bad file)."
    ),
) -> None:
    """Fetch, verify (sha256) and prepare local models; idempotent."""
    from .. import model_files

    for n in name or sorted(model_files.MODELS):
        path = model_files.pull(n, force=force, progress=print)
        print(f"{n}: {path}")


@models_app.command("list")
def list_(
    verify: bool = typer.Option(False, "--verify", help="Recompute sha256 checksums (slower)."),
    json_out: bool = JsonOption,
) -> None:
    """Show which local models are present, their size and checksum status."""
    from .. import model_files

    rows = model_files.list_models(checksums=verify)
    if json_out:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    from rich.table import Table

    from ..report import console

    table = Table("model", "kind", "present", "size", "sha256", "path / problem")
    for r in rows:
        size = f"{r.size_bytes / 1e6:.1f} MB" if r.size_bytes else ""
        sha = {True: "ok", False: "MISMATCH", None: "not checked"}[r.sha256_ok]
        table.add_row(
            r.name, r.kind, "yes" if r.present else "no", size, sha, r.problem or r.path or ""
        )
    console().print(table)
    missing = [r.name for r in rows if not r.present]
    if missing:
        print(f"get them with: driftgate models pull {' '.join(missing)}")
