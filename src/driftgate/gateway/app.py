"""The gateway's ASGI app (Starlette): the OpenAI endpoints, feedback, metrics and health.

    POST /v1/chat/completions   route/NAME, PROMPT@ALIAS or a model id; `stream: true` → SSE
    GET  /v1/models             what the caller's key may call
    POST /v1/feedback           {request_id, verdict: accept|edit|reject, correction, note}
    GET  /metrics               Prometheus text (needs a key unless `public_metrics`)
    GET  /healthz, /readyz      alive; ready (every route loaded, not shutting down)

Every refusal or failure is OpenAI-shaped (`{"error": {message, type, param, code}}`) with
its status; an unexpected exception is logged (secrets masked) and answered as a bare 500.
The lifespan loads every route at start-up and, at shutdown, drains shadow calls and
flushes the traffic logs (`Router.aclose`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import GatewayError, ProviderError
from ..workspace import Workspace
from .direct import Answer
from .metrics import CONTENT_TYPE
from .routes import GATEWAY_LOG
from .service import Gateway, provider_failure
from .wire import completion_body, error_body, parse_chat, stream_events

if TYPE_CHECKING:
    from .settings import GatewaySettings
    from .spans import Tracing

logger = logging.getLogger("driftgate.gateway")
Handler = Callable[[Request], Awaitable[Response]]


def create_app(
    workspace: Workspace | Path | str | None = None,
    *,
    settings: GatewaySettings | None = None,
    tracer_provider: Any = None,
) -> Starlette:
    """The gateway over `workspace` (default: the one found from the current directory),
    configured by `settings` (default: the workspace's `gateway:` section; client keys in
    `DRIFTGATE_GATEWAY_KEYS` are added either way). `tracer_provider`: an OpenTelemetry
    SDK TracerProvider the caller owns; spans go there whatever the tracing settings."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    gw = Gateway(ws, settings or ws.settings.gateway, tracer_provider=tracer_provider)
    tracing = gw.tracing

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gw.pool.load_all()
        gw.ready = True
        try:
            yield
        finally:
            await gw.aclose()

    app = Starlette(
        routes=[
            Route(
                "/v1/chat/completions", _guarded(lambda r: _chat(gw, r), tracing), methods=["POST"]
            ),
            Route("/v1/models", _guarded(lambda r: _models(gw, r), tracing), methods=["GET"]),
            Route("/v1/feedback", _guarded(lambda r: _feedback(gw, r), tracing), methods=["POST"]),
            Route("/metrics", _guarded(lambda r: _metrics(gw, r)), methods=["GET"]),
            Route("/healthz", _healthz, methods=["GET"]),
            Route("/readyz", _guarded(lambda r: _readyz(gw)), methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},  # type: ignore[dict-item]
        lifespan=lifespan,
    )
    app.state.gateway = gw
    return app


def error_response(exc: GatewayError) -> JSONResponse:
    return JSONResponse(error_body(exc), status_code=exc.status)


def _guarded(handler: Handler, tracing: Tracing | None = None) -> Handler:
    """Refusals and failures as OpenAI errors; anything unexpected as a 500 with no detail.
    With `tracing`, each request is a span (scrapes and probes are not traced)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except GatewayError as exc:
            return error_response(exc)
        except ProviderError as exc:
            return error_response(provider_failure(exc))
        except Exception:
            import traceback

            from .._redact import redact_text

            logger.error("%s %s failed: %s", request.method, request.url.path,
                         redact_text(traceback.format_exc()))  # fmt: skip
            return error_response(GatewayError(500, "internal error", type="server_error"))

    if tracing is None:
        return endpoint

    async def traced(request: Request) -> Response:
        with tracing.request(request.method, request.url.path, request.headers):
            response = await endpoint(request)
            tracing.annotate({"http.response.status_code": response.status_code})
            return response

    return traced


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed `limit` bytes."""
    too_large = GatewayError(
        413, f"the request body is larger than {limit} bytes", code="request_too_large"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _chat(gw: Gateway, request: Request) -> Response:
    start = time.perf_counter()
    kind, route, arm, model = "model", "", "", ""
    try:
        client = gw.keys.client(request.headers.get("authorization"))
        chat = parse_chat(await _read_body(request, gw.settings.max_body_bytes), gw.settings)
        kind = gw.kind_of(chat.model)
        route = chat.model.removeprefix("route/") if kind == "route" else GATEWAY_LOG
        model = "" if kind == "route" else chat.model
        answer = await gw.serve(client, chat, request.headers, kind)
    except (GatewayError, ProviderError) as exc:
        failure = exc if isinstance(exc, GatewayError) else provider_failure(exc)
        # Label values only from what exists: a client must not mint new series.
        route = route if route in gw.pool.routers or route == GATEWAY_LOG else ""
        model = model if gw.direct.served(model) else ""
        gw.metrics.error(kind, route, model, failure.type)
        gw.metrics.observe(kind, route, arm, model, failure.status, time.perf_counter() - start)
        if gw.tracing is not None:
            gw.tracing.annotate(_span_attributes(kind, route, "", model, None, failure.type))
        raise failure from None
    gw.metrics.observe(
        kind, route, answer.arm or "", answer.model, 200, time.perf_counter() - start
    )
    if gw.tracing is not None:
        gw.tracing.annotate(
            _span_attributes(kind, answer.route or route, answer.arm, answer.model,
                             answer.request_id, None)
        )  # fmt: skip
    headers = _answer_headers(answer)
    if chat.stream:
        events = stream_events(
            answer.request_id, chat.model, answer.text, finish_reason=answer.finish_reason,
            tool_calls=answer.tool_calls,
        )  # fmt: skip
        return StreamingResponse(_iterate(events), media_type="text/event-stream", headers=headers)
    body = completion_body(
        answer.request_id, chat.model, answer.text, finish_reason=answer.finish_reason,
        usage=answer.usage, tool_calls=answer.tool_calls,
    )  # fmt: skip
    return JSONResponse(body, headers=headers)


def _span_attributes(
    kind: str, route: str, arm: str | None, model: str, request_id: str | None, error: str | None
) -> dict[str, str | None]:
    """What a request's span says: names and ids, never content."""
    return {
        "driftgate.kind": kind,
        "driftgate.route": route,
        "driftgate.arm": arm,
        "driftgate.model": model,
        "driftgate.request_id": request_id,
        "error.type": error,
    }


async def _iterate(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event


def _answer_headers(answer: Answer) -> dict[str, str]:
    headers = {"X-Driftgate-Request-Id": answer.request_id, "X-Driftgate-Model": answer.model}
    if answer.arm is not None:
        headers["X-Driftgate-Arm"] = answer.arm
    if answer.version is not None:
        headers["X-Driftgate-Version"] = answer.version
    return {**headers, **answer.extra_headers}


async def _models(gw: Gateway, request: Request) -> Response:
    client = gw.keys.client(request.headers.get("authorization"))
    return JSONResponse({"object": "list", "data": gw.models(client)})


async def _feedback(gw: Gateway, request: Request) -> Response:
    client = gw.keys.client(request.headers.get("authorization"))
    body = await _read_body(request, gw.settings.max_body_bytes)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise GatewayError(400, "the request body is not JSON", code="invalid_json") from None
    recorded = gw.feedback(client, data)
    if gw.tracing is not None:
        gw.tracing.annotate(
            {"driftgate.route": recorded["route"], "driftgate.request_id": recorded["request_id"]}
        )
    return JSONResponse(recorded)


async def _metrics(gw: Gateway, request: Request) -> Response:
    if not gw.settings.public_metrics:
        gw.keys.client(request.headers.get("authorization"))
    return Response(gw.metrics.render(), media_type=CONTENT_TYPE)


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _readyz(gw: Gateway) -> Response:
    if gw.ready and not gw.pool.failed:
        return JSONResponse({"status": "ready", "routes": sorted(gw.pool.routers)})
    why = "starting or stopping" if not gw.ready else "some routes failed to load"
    return JSONResponse(
        {"status": "not ready", "reason": why, "failed": gw.pool.failed}, status_code=503
    )


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own 404 / 405 in OpenAI's shape."""
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return error_response(GatewayError(exc.status_code, str(exc.detail), code=code))
