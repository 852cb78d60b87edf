"""`driftgate sim serve`: the simulator as an OpenAI-compatible HTTP server."""

from __future__ import annotations

import typer

from ._app import app

sim_app = typer.Typer(help="The deterministic simulator provider.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")


@sim_app.command("serve")
def serve(
    port: int = typer.Option(8765, "--port", help="Port (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    latency_ms: float = typer.Option(
        None, "--latency-ms", help="Answer after this many ms (overrides profiles)."
    ),
) -> None:
    """Serve /v1/chat/completions for models named sim/NAME@VERSION."""
    from ..providers.sim_server import serve as serve_forever

    serve_forever(host=host, port=port, latency_ms=latency_ms)
