"""`driftgate models pull|list`: the embedded local models."""

from __future__ import annotations

import typer

from . import app
from ._common import JsonOption, print_json

models_app = typer.Typer(help="Embedded local models (offline defaults).", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("pull")
def pull(
    name: list[str] = typer.Argument(None, help="Models to get (default: all)."),
    force: bool = typer.Option(False, "--force", help="Download and convert again (repairs a bad file)."),
) -> None:
    """Fetch, verify and prepare local models."""
    from .. import models

    for n in name or models.known_models():
        path = models.pull(n, force=force)
        print(f"{n}: {path}")


@models_app.command("list")
def list_(json_out: bool = JsonOption) -> None:
    """Show which local models are present, their size and checksum."""
    from .. import models

    rows = models.list_models()
    if json_out:
        print_json([r.model_dump(mode="json") if hasattr(r, "model_dump") else r.__dict__ for r in rows])
        return
    from rich.console import Console
    from rich.table import Table

    t = Table("model", "present", "size", "sha256", "path")
    for r in rows:
        d = r.model_dump() if hasattr(r, "model_dump") else r.__dict__
        t.add_row(str(d.get("name")), str(d.get("present")), str(d.get("size") or ""),
                  str(d.get("sha256_ok", d.get("sha256", ""))), str(d.get("path") or ""))
    Console().print(t)
