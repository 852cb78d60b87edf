"""Running the UI: uvicorn, one process (a person's browser is the only client)."""

from __future__ import annotations

from ..workspace import Workspace
from .security import required_token


def serve(
    workspace: Workspace | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    log_level: str = "warning",
) -> None:
    """Serve until interrupted. Beyond loopback a token is required (`security`)."""
    import uvicorn

    from .app import create_app

    ws = workspace or Workspace.find()
    token = required_token(host, token)
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    # The token is never printed: a terminal's scrollback or a container's log keeps it.
    how = "  (open /?token=YOUR_TOKEN once)" if token else ""
    print(f"driftgate ui: http://{shown}:{port}/{how}  (Ctrl-C stops)", flush=True)
    uvicorn.run(create_app(ws, token=token), host=host, port=port, log_level=log_level)
