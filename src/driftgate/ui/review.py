"""The review page: one queued answer at a time, decided with a click or a key.

    GET  /review?route=NAME     the route's first queued answer, the counts, the needs
    POST /review                {csrf, route, item, reviewer, action[, answer]}

The decision goes through `review.record_review` (feedback with the reviewer, a golden
case behind the leakage guard); the page then shows the next answer (POST-redirect-GET,
so a reload never decides twice, and a double submit is a duplicate that stores nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import ConfigError, DriftgateError
from ..report import web_routes
from ..report.review import decision_line
from ..review import record_review, review_queue
from .security import CSRF_FIELD

if TYPE_CHECKING:
    from .app import UI

REVIEWER_COOKIE = "driftgate_reviewer"
MAX_FORM_BYTES = 64 * 1024


def route_names(ui: UI) -> list[str]:
    folder = ui.ws.path(ui.ws.settings.routes_dir)
    return sorted({p.stem for p in folder.glob("*.y*ml")} | {p.stem for p in folder.glob("*.json")})


async def show(ui: UI, request: Request) -> Response:
    routes = route_names(ui)
    route = request.query_params.get("route") or (routes[0] if routes else None)
    if route is None:
        raise ConfigError(
            "this workspace has no routes, so no served answers to review",
            hint="add a route under routes/ and serve through it (`driftgate route`)",
        )
    queue = review_queue(ui.ws, route)
    values = web_routes.review_values(
        queue,
        routes,
        reviewer=request.cookies.get(REVIEWER_COOKIE, ""),
        flash=request.query_params.get("done"),
        error=request.query_params.get("error"),
    )
    return ui.html(request, "review.html.j2", "review", **values)


async def decide(ui: UI, request: Request) -> Response:
    form = await _form(request)
    if not ui.csrf.check(request, _field(form, CSRF_FIELD)):
        return Response("refused: the form's CSRF token is missing or stale; reload the page",
                        status_code=403, media_type="text/plain")  # fmt: skip
    route = _field(form, "route") or ""
    reviewer = (_field(form, "reviewer") or "").strip()
    action, _, label = (_field(form, "action") or "").partition(":")
    if action == "correct" and not label:
        label = _field(form, "answer") or ""
    back = {"route": route}
    try:
        outcome = record_review(
            ui.ws, _field(form, "item") or "", action, reviewer=reviewer, label=label or None
        )
    except DriftgateError as exc:
        back["error"] = str(exc)
    else:
        back["done"] = decision_line(outcome)
    response = RedirectResponse("/review?" + urlencode(back, quote_via=quote), status_code=303)
    if reviewer:
        response.set_cookie(REVIEWER_COOKIE, reviewer, httponly=True, samesite="strict")
    return response


async def _form(request: Request) -> dict[str, str]:
    """The posted form (urlencoded: the page's only kind), the first value of each field.
    Parsed here rather than through python-multipart, which only file uploads would need."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ConfigError("the form is too large", hint=f"at most {MAX_FORM_BYTES} bytes")
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _field(form: dict[str, str], name: str) -> str | None:
    return form.get(name)
