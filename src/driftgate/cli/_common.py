"""Small helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

WorkspaceOption = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace root (default: found upwards from the current folder).",
)
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")


def workspace(path: Path | None):
    from ..workspace import Workspace

    return Workspace.find(path)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
