"""`driftgate serve`: an OpenAI-compatible gateway over the workspace's routes and prompts.

    from driftgate.gateway import create_app
    app = create_app(Workspace.find())        # a Starlette app: uvicorn, or tests in-process

`model: "route/NAME"` serves through that route's `Router` (arms, shadows, fallbacks, the
traffic log, feedback and the canary guard: one implementation), `model: "PROMPT@ALIAS"`
renders that registered prompt version, and any other model id is called directly.

Names load lazily: `driftgate.workspace` reads `gateway.settings`, and must not pay for
starlette or the router when it does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "GatewayKey",
    "GatewaySettings",
    "create_app",
    "hash_key",
    "serve",
]

_LAZY = {
    "GatewayKey": "settings",
    "GatewaySettings": "settings",
    "create_app": "app",
    "hash_key": "auth",
    "serve": "server",
}

if TYPE_CHECKING:
    from .app import create_app as create_app
    from .auth import hash_key as hash_key
    from .server import serve as serve
    from .settings import GatewayKey as GatewayKey
    from .settings import GatewaySettings as GatewaySettings


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
