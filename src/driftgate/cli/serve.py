"""`driftgate serve`: the OpenAI-compatible gateway over the workspace's routes and prompts."""

from __future__ import annotations

import typer

from ._app import app


@app.command("serve")
def serve(
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to bind. Beyond loopback, client API keys must be configured.",
    ),
    port: int = typer.Option(8000, "--port", help="Port."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Worker processes (uvicorn's multiprocess mode)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level."),
) -> None:
    """Serve the OpenAI Chat Completions API: model `route/NAME` through a route (canary,
    shadows, fallbacks, feedback), `PROMPT@ALIAS` through a prompt version, any other model
    id directly. Also /v1/models, /v1/feedback, /metrics, /healthz, /readyz."""
    # starlette and uvicorn are imported here, never by `driftgate --help`.
    from ..gateway.server import serve as serve_forever

    serve_forever(host=host, port=port, workers=workers, log_level=log_level)
