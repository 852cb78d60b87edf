"""`driftgate ui`: a local web app over the workspace (runs, comparisons, versions, drift,
routes) and the review queue that turns human judgement into golden cases.

    from driftgate.ui import create_app
    app = create_app(Workspace.find())        # a Starlette app: uvicorn, or tests in-process

Every page reads through the library functions the CLI uses; the app adds routing, the
access token beyond loopback and CSRF on every form (`security`).
"""

from __future__ import annotations

from .app import create_app
from .server import serve

__all__ = ["create_app", "serve"]
