"""The web app of `driftgate ui` (Starlette): pages over the workspace's runs, versions,
drift checks and routes, and the review queue.

    GET  /runs                      runs, filtered, a page at a time
    GET  /runs/{id}                 one run: summary per arm and segment, its cases paged
    GET  /runs/{id}/case?key=K      one case in full
    GET  /compare?a=RUN&b=RUN       two runs (or two arms of one): the paired verdict, flips
    GET  /versions?target=KIND/NAME versions, aliases, audit; &a=N&b=M diffs two
    GET  /drift?key=KEY             each monitored suite's signals over time, alerts marked
    GET  /routes?route=NAME         arms, live weights and their history, canary verdicts
    GET  /review?route=NAME         the review queue: one answer at a time (review.py)
    POST /review                    a decision (CSRF-checked), then the next answer
    GET  /static/{file}             the app's own CSS and script (package data)

Each handler gathers objects through the library (the same functions as the CLI) and
renders them with `report.web`; this module adds routing, the token and CSRF checks
(`security`), and turns the library's errors into pages that say what to do. No file of
the workspace is served: pages show what the library reads, static files come from the
package only, by a fixed list of names.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ..errors import ConfigError, DriftgateError, RunNotFound, VersionNotFound
from ..report import web, web_compare, web_routes, web_versions
from ..store.browse import CaseFilter, RunFilter, case_detail, case_page, list_runs
from ..store.runs import RunStore
from ..workspace import Workspace
from . import review
from .security import CSP, CSRF_COOKIE, TOKEN_COOKIE, Csrf, token_ok

Handler = Callable[[Request], Awaitable[Response]]
# The only files /static serves, each from the package's templates.
STATIC = {
    "style.css": ("report/style.css", "text/css"),
    "ui.css": ("ui/ui.css", "text/css"),
    "ui.js": ("ui/ui.js", "text/javascript"),
    "filter.js": ("report/filter.js", "text/javascript"),
}


class UI:
    """What every handler shares: the workspace, the token, the CSRF secret."""

    def __init__(self, ws: Workspace, token: str | None) -> None:
        self.ws = ws
        self.token = token
        self.csrf = Csrf()
        self._listed_at = -1e9  # time.monotonic() of the last copy of the store's run list

    def runs(self, *, every: bool = False) -> RunStore:
        """The workspace's runs (over its shared store, when it has one). `every`: first copy
        the manifests of runs made on other machines, at most once per `staleness_s`."""
        store = RunStore.of(self.ws)
        now = time.monotonic()
        if every and now - self._listed_at >= self.ws.settings.shared_store.staleness_s:
            store.pull_all()
            self._listed_at = now
        return store

    def html(self, request: Request, template: str, section: str, **values: Any) -> Response:
        browser, new = self.csrf.browser_id(request)
        body = web.page(template, section=section, csrf=self.csrf.token(browser), **values)
        response = HTMLResponse(body)
        if new:
            response.set_cookie(CSRF_COOKIE, browser, httponly=True, samesite="strict")
        return response


def create_app(
    workspace: Workspace | Path | str | None = None, *, token: str | None = None
) -> Starlette:
    """The UI over `workspace` (default: found from the current directory). With `token`,
    every request must carry it (security module doc)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    ui = UI(ws, token)

    def h(fn: Callable[[UI, Request], Awaitable[Response]]) -> Handler:
        return _guarded(ui, lambda request: fn(ui, request))

    routes = [
        Route("/", h(_home)),
        Route("/runs", h(_runs)),
        Route("/runs/{run_id}", h(_run)),
        Route("/runs/{run_id}/case", h(_case)),
        Route("/compare", h(_compare)),
        Route("/versions", h(_versions)),
        Route("/drift", h(_drift)),
        Route("/routes", h(_routes)),
        Route("/review", h(review.show), methods=["GET"]),
        Route("/review", h(review.decide), methods=["POST"]),
        Route("/static/{name}", h(_static)),
    ]
    app = Starlette(routes=routes)
    app.state.ui = ui
    return app


def _guarded(ui: UI, handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        if ui.token is not None and not token_ok(request, ui.token):
            return HTMLResponse(
                "<h1>401</h1><p>This driftgate UI needs its token: open it with ?token=…</p>",
                status_code=401,
            )
        try:
            response = await handler(request)
        except DriftgateError as exc:
            response = ui.html(request, "error.html.j2", "", error=exc)
            response.status_code = 404 if isinstance(exc, (RunNotFound, VersionNotFound)) else 400
        if ui.token is not None and request.query_params.get("token"):
            response.set_cookie(TOKEN_COOKIE, ui.token, httponly=True, samesite="strict")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return guarded


def _int(request: Request, name: str, default: int) -> int:
    try:
        return max(0, int(request.query_params.get(name, default)))
    except ValueError:
        return default


def _opt(request: Request, name: str) -> str | None:
    return request.query_params.get(name) or None


def _day(value: str | None, *, end: bool = False) -> float | None:
    """A date from the filter form as unix time (the start of the day; `end`: of the next)."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    moment = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return (moment + dt.timedelta(days=1 if end else 0)).timestamp()


async def _home(ui: UI, request: Request) -> Response:
    return RedirectResponse("/runs", status_code=302)


async def _runs(ui: UI, request: Request) -> Response:
    since, until = _opt(request, "since"), _opt(request, "until")
    filt = RunFilter(
        suite=_opt(request, "suite"),
        prompt=_opt(request, "prompt"),
        model=_opt(request, "model"),
        status=_opt(request, "status"),
        since=_day(since),
        until=_day(until, end=True),
    )
    ui.runs(every=True)
    page = list_runs(
        ui.ws.runs_dir, filt, offset=_int(request, "offset", 0), limit=_int(request, "limit", 50)
    )
    values = web.runs_values(page, filt, {"since": since or "", "until": until or ""})
    return ui.html(request, "runs.html.j2", "runs", **values)


def _run_id(ui: UI, request: Request) -> str:
    given = request.path_params["run_id"]
    if given.startswith("."):  # never a folder beside the runs (`..`)
        raise RunNotFound(f"run {given!r} not found", hint="pick a run from the list")
    return ui.runs().resolve_id(given)


async def _run(ui: UI, request: Request) -> Response:
    store = ui.runs()
    run_id = _run_id(ui, request)
    store.pull(run_id)  # its results, when made on another machine
    manifest = store.load(run_id)
    filt = CaseFilter(
        status=request.query_params.get("status") or "all",  # type: ignore[arg-type]
        search=_opt(request, "search"),
        arm=_opt(request, "arm"),
        segment=_opt(request, "segment"),
    )
    cases = case_page(
        ui.ws.runs_dir,
        run_id,
        filt,
        offset=_int(request, "offset", 0),
        limit=_int(request, "limit", 50),
    )
    return ui.html(request, "run.html.j2", "runs", **web.run_values(manifest, cases, filt))


async def _case(ui: UI, request: Request) -> Response:
    store = ui.runs()
    run_id = _run_id(ui, request)
    store.pull(run_id)
    manifest = store.load(run_id)
    result = case_detail(ui.ws.runs_dir, run_id, request.query_params.get("key", ""))
    return ui.html(request, "case.html.j2", "runs", **web.case_values(manifest, result))


async def _compare(ui: UI, request: Request) -> Response:
    from ..compare import compare_runs

    picked = {k: _opt(request, k) for k in ("a", "b", "arm_a", "arm_b")}
    ui.runs(every=True)
    runs = list_runs(ui.ws.runs_dir, limit=500).runs
    cmp = None
    if picked["a"]:
        cmp = compare_runs(
            picked["a"], picked["b"], workspace=ui.ws, arm_a=picked["arm_a"], arm_b=picked["arm_b"]
        )
    return ui.html(
        request, "compare.html.j2", "compare", **web_compare.compare_values(cmp, runs, picked)
    )


async def _versions(ui: UI, request: Request) -> Response:
    from ..registry import Registry, diff_versions, list_versions
    from ..registry.history import example_changes
    from ..registry.versions import parse_ref

    reg = Registry.of(ui.ws)
    state = reg.aliases.read()
    targets = [
        (t, len(reg.versions.list(*t.split("/", 1))), sorted(state.of(t)))
        for t in reg.versions.targets()
    ]
    target = _opt(request, "target")
    picked = {"a": _opt(request, "a"), "b": _opt(request, "b")}
    rows: list[Any] = []
    audit: list[Any] = []
    diff = examples = None
    rendered: tuple[str, list[tuple[str, str, str]]] | None = None
    if target:
        target = parse_ref(target).target
        rows, _ = list_versions(target, workspace=ui.ws)
        audit = reg.aliases.audit(target)
        if picked["a"] and picked["b"]:
            a, b = f"{target}@{picked['a']}", f"{target}@{picked['b']}"
            diff = diff_versions(a, b, workspace=ui.ws)
            examples = example_changes(a, b, workspace=ui.ws)
            if target.startswith("prompt/"):
                rendered = _rendered(ui.ws, a, b)
    values = web_versions.versions_values(targets, target, rows, audit, diff, picked)
    values["examples"] = web_versions.example_values(examples)
    values["rendered"] = web_versions.rendered_values(*rendered) if rendered else None
    return ui.html(request, "versions.html.j2", "versions", **values)


def _rendered(ws: Workspace, a: str, b: str) -> tuple[str, list[tuple[str, str, str]]] | None:
    """(the case, what each prompt version sends for it): the first case of the workspace's
    default suite that both versions render; None when there is none."""
    from ..evalset import iter_cases
    from ..registry.history import rendered_pair
    from ..suite import load_suite

    if not ws.settings.suite:
        return None
    try:
        suite = load_suite(ws.root / ws.settings.suite)
        for ref in suite.evalsets:
            for case in iter_cases(ws.evalset(ref).path):
                return case.id, rendered_pair(a, b, case.vars, workspace=ws)
    except DriftgateError:
        return None  # a version that cannot render this case: the definition diff says why
    return None


async def _drift(ui: UI, request: Request) -> Response:
    from ..drift.history import checked
    from ..drift.store import DriftStore
    from ..report.drift_history import history_page

    keys: list[dict[str, Any]] = []
    for key in DriftStore.keys(ui.ws):
        n = len(checked(DriftStore.for_key(ui.ws, key.key).checks()))
        keys.append({"key": key.key, "suite": key.suite or key.key,
                     "models": ", ".join(key.models) or "the suite's", "checks": n})  # fmt: skip
    picked: str | None = _opt(request, "key") or next(
        (str(k["key"]) for k in keys if k["checks"]), None
    )
    history = None
    if picked is not None:
        if picked not in {k["key"] for k in keys}:
            raise ConfigError(f"no drift history {picked!r}", hint="pick one from the list")
        name = next(k["suite"] for k in keys if k["key"] == picked)
        checks = DriftStore.for_key(ui.ws, picked).checks()
        history = history_page(checks, title=f"drift history — {name}")
    return ui.html(request, "drift.html.j2", "drift", keys=keys, picked=picked, history=history)


async def _routes(ui: UI, request: Request) -> Response:
    from ..router.operations import route_status
    from ..router.router import load_route_ref
    from ..router.state import history

    routes = review.route_names(ui)
    name = _opt(request, "route") or (routes[0] if routes else None)
    if name is None:
        raise ConfigError(
            "this workspace has no routes", hint="add one under routes/ (see the README's routes)"
        )
    spec = load_route_ref(ui.ws, name)
    status = route_status(ui.ws, spec)
    moves = history(ui.ws, spec.name)
    return ui.html(request, "routes.html.j2", "routes",
                   **web_routes.route_values(spec, status, moves, routes))  # fmt: skip


async def _static(ui: UI, request: Request) -> Response:
    entry = STATIC.get(request.path_params["name"])
    if entry is None:
        return Response("not found", status_code=404, media_type="text/plain")
    path, media = entry
    body = resources.files("driftgate").joinpath("templates", *path.split("/")).read_bytes()
    return Response(body, media_type=media, headers={"Cache-Control": "max-age=300"})
