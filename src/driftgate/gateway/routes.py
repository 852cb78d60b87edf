"""The routes a gateway serves: one `Router` per route, built on first use and closed at shutdown.

The gateway adds nothing to routing: `Router.complete` picks the arm, mirrors to shadows,
falls back and logs; `Router.feedback` records feedback and runs the canary guard. This
module keeps the routers, makes request ids that name their route (so feedback needs only
the id, on whichever worker it lands, even after a restart), and works out the variables
of a request that sent none.

State shared by several workers (processes) lives in the workspace's files, never only in
a worker's memory, and every request checks it with `stat`s, not parses:
- live weights, canary rollbacks and ramps: the route's `state.json` (`Router.weights`);
- alias moves: the registry's `aliases.json` (`Router` re-resolves its arms' prompts);
- the route file itself: its stamp is checked here on each request, and an edited (or
  removed) file builds a new `Router` (the old one drains its shadow calls and closes).
A change made by any process is served from the next request on (staleness bound: none
beyond the file system's own mtime resolution).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, GatewayError, UnknownNameError, VersionNotFound

if TYPE_CHECKING:
    from ..router import Decision, Router
    from ..router.router import CallHook
    from ..workspace import Workspace

# Names a prompt's template reads from its pinned artifacts, not from the request.
CONTEXT_NAMES = frozenset({"examples", "retrieve"})
# The pseudo-route whose traffic log holds the requests served without a route.
GATEWAY_LOG = "@gateway"
ID_SEPARATOR = ":"  # never in a route's name (letters, digits, '_', '.', '-')
ROUTE_EXTENSIONS = (".yaml", ".yml", ".json")
DRAIN_POLL_S = 0.05  # how often a replaced router looks whether its last request answered
Stamp = tuple[int, int, int] | None


def file_stamp(path: Path | None) -> Stamp:
    """(mtime, inode, size): changes when a route file is replaced or edited in place."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_size)


class RouterPool:
    """The workspace's routers, by route name."""

    def __init__(
        self,
        ws: Workspace,
        on_decision: Callable[[Decision], None],
        call_hook: CallHook | None = None,
    ) -> None:
        self.ws = ws
        self._on_decision = on_decision
        self._call_hook = call_hook  # tracing: a span around each model call
        self.routers: dict[str, Router] = {}
        self.failed: dict[str, str] = {}  # route -> why it did not load (readyz)
        self._files: dict[str, tuple[Path | None, Stamp]] = {}  # the file each router read
        self._variables: dict[str, tuple[tuple[object, ...], list[str]]] = {}
        self._closing: set[asyncio.Task[None]] = set()  # replaced routers, draining
        self._busy: dict[Router, int] = {}  # requests in flight per router

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

    def _route_file(self, name: str) -> Path | None:
        folder = self.ws.path(self.ws.settings.routes_dir)
        return next(
            (p for ext in ROUTE_EXTENSIONS if (p := folder / f"{name}{ext}").is_file()), None
        )

    def get(self, name: str) -> Router:
        """The route's router, built again when its file changed since (one `stat`)."""
        router = self.routers.get(name)
        if router is not None:
            path, stamp = self._files[name]
            if file_stamp(path) == stamp:
                return router
            self._retire(name)
        try:
            return self._build(name)
        except GatewayError as exc:  # readyz reports a route that cannot serve (any more)
            if exc.status >= 500:
                self.failed[name] = exc.message
            else:
                self.failed.pop(name, None)
            raise

    def _build(self, name: str) -> Router:
        from ..router import Router

        path = self._route_file(name)
        stamp = file_stamp(path)  # before reading: an edit in between is seen next time
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
        router.call_hook = self._call_hook
        self.routers[name] = router
        self._files[name] = (path, stamp)
        self.failed.pop(name, None)
        return router

    def _retire(self, name: str) -> None:
        """Stop serving a router whose route file changed: it drains and closes in the
        background (at shutdown at the latest)."""
        router = self.routers.pop(name)
        self._variables.pop(name, None)
        try:
            task = asyncio.get_running_loop().create_task(self._drain(router))
        except RuntimeError:  # no loop (a synchronous caller): nothing is in flight
            asyncio.run(router.aclose())
            return
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @asynccontextmanager
    async def serving(self, name: str) -> AsyncIterator[Router]:
        """The route's router for one request: a router replaced meanwhile is closed only
        once its requests in flight have answered."""
        router = self.get(name)
        self._busy[router] = self._busy.get(router, 0) + 1
        try:
            yield router
        finally:
            self._busy[router] -= 1
            if not self._busy[router]:
                del self._busy[router]

    async def _drain(self, router: Router) -> None:
        while router in self._busy:
            await asyncio.sleep(DRAIN_POLL_S)
        await router.aclose()

    def route_of(self, request_id: str) -> str | None:
        """The route a gateway request id names (`new_request_id`), when it exists."""
        route, sep, rest = request_id.partition(ID_SEPARATOR)
        if not (sep and rest):
            return None
        if route == GATEWAY_LOG or route in self.routers or route in self.names():
            return route
        return None

    def variables(self, name: str) -> list[str]:
        """The request variables the route's live arms render (their templates' names, less
        the artifacts' `examples` and `retrieve`)."""
        router = self.routers.get(name) or self.get(name)  # its file was checked to serve
        key = router.state_key  # a weight or alias move changes which templates serve
        cached = self._variables.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        from ..registry.prompts import find_prompt

        weights = router.weights
        names: set[str] = set()
        for arm in router.spec.arms:
            if weights.get(arm.name, 0) > 0:
                for ref in router.spec.prompts_of(arm):
                    names |= find_prompt(self.ws, ref).template_variables()
        found = sorted(names - CONTEXT_NAMES)
        self._variables[name] = (key, found)
        return found

    async def aclose(self) -> None:
        """Drain every router's shadow calls and flush its log."""
        routers, self.routers = list(self.routers.values()), {}
        closing = [*self._closing, *(r.aclose() for r in routers)]
        await asyncio.gather(*closing, return_exceptions=True)


def new_request_id(route: str) -> str:
    """`ROUTE:HEX`: the id of a request and of its logged decision. Naming the route makes
    feedback by id alone work on any worker, where a per-process memory would not."""
    return f"{route}{ID_SEPARATOR}{uuid.uuid4().hex}"


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
