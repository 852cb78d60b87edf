"""The routes a gateway serves: one `Router` per route, built on first use and closed at shutdown.

The gateway adds nothing to routing: `Router.complete` picks the arm, mirrors to shadows,
falls back and logs; `Router.feedback` records feedback and runs the canary guard. This
module keeps the routers, remembers which route answered each recent request (so feedback
needs only the request id), and works out the variables of a request that sent none.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, GatewayError, UnknownNameError, VersionNotFound

if TYPE_CHECKING:
    from ..router import Decision, Router
    from ..workspace import Workspace

# Names a prompt's template reads from its pinned artifacts, not from the request.
CONTEXT_NAMES = frozenset({"examples", "retrieve"})
# Request ids remembered per process for feedback by id alone; older ones need `route`.
REMEMBERED = 100_000


class RouterPool:
    """The workspace's routers, by route name."""

    def __init__(self, ws: Workspace, on_decision: Callable[[Decision], None]) -> None:
        self.ws = ws
        self._on_decision = on_decision
        self.routers: dict[str, Router] = {}
        self.failed: dict[str, str] = {}  # route -> why it did not load (readyz)
        self._variables: dict[str, list[str]] = {}
        self._served: OrderedDict[str, str] = OrderedDict()  # request id -> route

    def names(self) -> list[str]:
        folder = self.ws.path(self.ws.settings.routes_dir)
        return sorted({p.stem for ext in ("*.yaml", "*.yml", "*.json") for p in folder.glob(ext)})

    def load_all(self) -> None:
        """Build every route's router now (at start-up): a broken route shows in /readyz."""
        for name in self.names():
            try:
                self.get(name)
            except GatewayError as exc:
                self.failed[name] = exc.message

    def get(self, name: str) -> Router:
        router = self.routers.get(name)
        if router is not None:
            return router
        from ..router import Router

        try:
            router = Router(name, workspace=self.ws)
        except UnknownNameError as exc:
            if name not in self.names():  # no such route; else: a name inside it is unknown
                raise GatewayError(
                    404, exc.message, code="model_not_found", param="model"
                ) from None
            raise GatewayError(
                500, f"route {name!r} cannot serve: {exc}", type="server_error", code="bad_route"
            ) from None
        except (ConfigError, VersionNotFound) as exc:
            raise GatewayError(
                500, f"route {name!r} cannot serve: {exc}", type="server_error", code="bad_route"
            ) from None
        router.log.listeners.append(self._on_decision)
        self.routers[name] = router
        self.failed.pop(name, None)
        return router

    def remember(self, request_id: str, route: str) -> None:
        self._served[request_id] = route
        if len(self._served) > REMEMBERED:
            self._served.popitem(last=False)

    def route_of(self, request_id: str) -> str | None:
        return self._served.get(request_id)

    def variables(self, name: str) -> list[str]:
        """The request variables the route's live arms render (their templates' names, less
        the artifacts' `examples` and `retrieve`)."""
        found = self._variables.get(name)
        if found is None:
            from ..registry.prompts import find_prompt

            router = self.get(name)
            weights = router.weights
            names: set[str] = set()
            for arm in router.spec.arms:
                if weights.get(arm.name, 0) > 0:
                    names |= find_prompt(self.ws, arm.prompt).template_variables()
            found = self._variables[name] = sorted(names - CONTEXT_NAMES)
        return found

    async def aclose(self) -> None:
        """Drain every router's shadow calls and flush its log."""
        routers, self.routers = list(self.routers.values()), {}
        await asyncio.gather(*(r.aclose() for r in routers), return_exceptions=True)


def request_vars(
    given: dict[str, Any] | None, names: list[str], last_user: str | None, *, what: str
) -> dict[str, Any]:
    """The variables a request renders: `given` (its `vars`), else the last user message as
    the one variable of a template that has exactly one; else a 400 naming what is needed."""
    if given is not None:
        return given
    if not names:
        return {}
    if len(names) == 1 and last_user is not None:
        return {names[0]: last_user}
    raise GatewayError(
        400,
        f"{what} renders the variables {names}: send them as `vars` (a JSON object; the "
        "OpenAI SDK: extra_body={'vars': {...}}); a template with one variable also takes "
        "the last user message",
        param="vars",
        code="missing_vars",
    )
