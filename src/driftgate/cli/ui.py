"""`driftgate ui`: the local web app (runs, compare, versions, drift, routes, review)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._common import WorkspaceOption, workspace


@app.command("ui")
def ui(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind. Beyond loopback a --token is required."
    ),
    port: int = typer.Option(8080, "--port", help="Port."),
    token: str = typer.Option(
        None,
        "--token",
        envvar="DRIFTGATE_UI_TOKEN",
        help="Access token (required beyond loopback): open /?token=TOKEN once.",
        show_envvar=True,
    ),
    ws_path: Path = WorkspaceOption,
) -> None:
    """Browse runs, comparisons, versions, drift and routes in a browser, and review
    logged answers into golden cases (a queue with keyboard shortcuts)."""
    # starlette and uvicorn are imported here, never by `driftgate --help`.
    from ..ui.server import serve

    serve(workspace(ws_path), host=host, port=port, token=token)
