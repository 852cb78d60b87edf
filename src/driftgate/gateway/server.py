"""Running the gateway: uvicorn, one process or several (`--workers N`).

Several workers are uvicorn's multiprocess mode: each worker builds its own app from
`app_factory` (an import string, as uvicorn requires), over the workspace named by
`DRIFTGATE_WORKSPACE`. They share the workspace's state through its files (live weights,
aliases, route files, traffic logs: every writer appends its own segments), not through
memory, and check it with a `stat` per request (`routes.py`): a rollback or alias move made
by any worker, CLI or library call is served by every worker from its next request.
Shutdown is uvicorn's graceful one (in-flight requests finish), then the app's lifespan
drains shadow calls and flushes the traffic logs.
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..workspace import Workspace

if TYPE_CHECKING:
    from starlette.applications import Starlette

FACTORY = "driftgate.gateway.server:app_factory"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def check_bind(host: str, ws: Workspace) -> None:
    """Refuse to serve beyond loopback when no client key is configured."""
    from .auth import env_keys

    if is_loopback(host) or ws.settings.gateway.keys or env_keys():
        return
    raise ConfigError(
        f"refusing to serve on {host} without client API keys: anyone who can reach it "
        "could call your models",
        field="gateway.keys",
        hint="add hashed keys under `gateway: keys:` in driftgate.yaml (or "
        "DRIFTGATE_GATEWAY_KEYS), or bind to 127.0.0.1",
    )


def app_factory() -> Starlette:
    """The app of one worker process (uvicorn calls it: `factory=True`)."""
    from .app import create_app

    return create_app(Workspace.find())


def serve(
    workspace: Workspace | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    """Serve until interrupted (SIGINT / SIGTERM: graceful shutdown)."""
    import uvicorn

    ws = workspace or Workspace.find()
    check_bind(host, ws)
    # Worker processes (and the factory) find the same workspace whatever their directory.
    os.environ["DRIFTGATE_WORKSPACE"] = str(ws.root)
    if workers > 1:
        import shutil
        import tempfile

        from .metrics import MULTIPROC_ENV

        # One folder for every worker's metric values, so a scrape on any worker sums all
        # of them (metrics.py); set before the workers start and import prometheus-client.
        folder = tempfile.mkdtemp(prefix="driftgate-metrics-")
        os.environ[MULTIPROC_ENV] = folder
        try:
            uvicorn.run(FACTORY, factory=True, host=host, port=port, workers=workers,
                        log_level=log_level)  # fmt: skip
        finally:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(folder, ignore_errors=True)
        return
    from .app import create_app

    uvicorn.run(create_app(ws), host=host, port=port, log_level=log_level)
