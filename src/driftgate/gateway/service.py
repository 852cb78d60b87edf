"""What the gateway does with a request, apart from HTTP: which of the three ways it is
served, feedback, the model list, and provider failures as OpenAI errors.

    model: "route/NAME"    → `Router.complete` (the sticky key: `X-Driftgate-Sticky`, else
                             the request's `user`)
    model: "PROMPT@ALIAS"  → that prompt version (or file label), rendered, on its model
    model: anything else   → that model, called directly (pass-through)

The variables a route or prompt renders come from the request's `vars` (or `metadata`);
a template with exactly one variable also takes the last user message as its value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import GatewayError, ProviderError, TemplateError
from .auth import Client, KeyRing, env_keys
from .direct import Answer, DirectCalls, version_header
from .metrics import GatewayMetrics
from .routes import GATEWAY_LOG, RouterPool, new_request_id, request_vars
from .tracing import open_tracing
from .wire import ChatRequest, bad_request

if TYPE_CHECKING:
    from ..workspace import Workspace
    from .settings import GatewaySettings

STICKY_HEADER = "x-driftgate-sticky"
ROUTE_PREFIX = "route/"
VERDICTS = ("accept", "edit", "reject")

# A provider's failure, by kind: the status and OpenAI error type the client sees.
_PROVIDER_STATUS: dict[str, tuple[int, str]] = {
    "rate_limit": (429, "rate_limit_error"),
    "timeout": (504, "timeout"),
    "server": (502, "upstream_error"),
    "bad_response": (502, "upstream_error"),
    "auth": (502, "upstream_error"),  # the gateway's provider key, not the client's
    "bad_request": (400, "invalid_request_error"),
    "other": (502, "upstream_error"),
}


def provider_failure(exc: ProviderError) -> GatewayError:
    """A provider failure as the client sees it: the right status, secrets masked."""
    from .._redact import redact_text

    status, type_ = _PROVIDER_STATUS.get(exc.kind, (502, "upstream_error"))
    return GatewayError(
        status, f"the model failed: {redact_text(str(exc))}", type=type_, code=exc.kind
    )


@dataclass
class Served:
    kind: str  # route | prompt | model
    answer: Answer


class Gateway:
    """One workspace's routes, prompts and models behind the OpenAI API."""

    def __init__(
        self, ws: Workspace, settings: GatewaySettings, *, tracer_provider: Any = None
    ) -> None:
        self.ws = ws
        self.settings = settings
        self.keys = KeyRing(settings, env_keys())
        self.tracing = open_tracing(settings.tracing, os.environ, tracer_provider=tracer_provider)
        hook = self.tracing.provider_call if self.tracing is not None else None
        self.metrics: GatewayMetrics
        self.pool = RouterPool(ws, lambda d: self.metrics.decision(d), hook)
        self.metrics = GatewayMetrics(self.pool)
        self.direct = DirectCalls(ws, self.metrics.decision, hook)
        self.ready = False

    def kind_of(self, model: str) -> str:
        if model.startswith(ROUTE_PREFIX):
            return "route"
        return "prompt" if self.direct.is_prompt_ref(model) else "model"

    async def serve(
        self, client: Client, chat: ChatRequest, headers: Mapping[str, str], kind: str
    ) -> Answer:
        if kind == "route":
            return await self._route(client, chat, headers)
        client.check_model(chat.model)
        if kind == "prompt":
            names = self.direct.prompt(chat.model).variables
            vars_ = request_vars(
                chat.vars, names, chat.last_user_text(), what=f"prompt {chat.model!r}"
            )
            answer = await self.direct.complete_prompt(chat.model, vars_)
        else:
            if not self.settings.passthrough:
                raise GatewayError(
                    404,
                    f"unknown model {chat.model!r}: name a route (route/NAME) or a prompt "
                    "version (NAME@ALIAS); pass-through is off (gateway.passthrough)",
                    code="model_not_found",
                    param="model",
                )
            answer = await self.direct.complete_model(
                chat.model, chat.messages, chat.params, tools=chat.tools,
                tool_choice=chat.tool_choice,
            )  # fmt: skip
        return answer

    async def _route(self, client: Client, chat: ChatRequest, headers: Mapping[str, str]) -> Answer:
        name = chat.model[len(ROUTE_PREFIX) :]
        client.check_route(name)
        async with self.pool.serving(name) as router:
            vars_ = request_vars(
                chat.vars, self.pool.variables(name), chat.last_user_text(),
                what=f"route {name!r}",
            )  # fmt: skip
            sticky = headers.get(STICKY_HEADER) or chat.user
            request_id = new_request_id(name)
            try:
                d = await router.complete(vars_, request_id=request_id, sticky=sticky)
            except TemplateError as exc:
                raise GatewayError(400, exc.message, param="vars", code="template_error") from None
        calls = d.parsed.get("tool_calls") if isinstance(d.parsed, dict) else None
        return Answer(
            request_id, d.output or "", d.model, route=name, arm=d.arm,
            version=version_header(d.prompt, d.prompt_digest),
            extra_headers={"X-Driftgate-Fallback": "true"} if d.fallback else {},
            finish_reason="tool_calls" if calls else "stop", tool_calls=calls,
        )  # fmt: skip

    # ---- feedback -----------------------------------------------------------------------
    def feedback(self, client: Client, data: Any) -> dict[str, Any]:
        """Record feedback on an answered request: `Router.feedback` for a route's (the same
        log and canary guard as in-process serving), the `@gateway` log for the others."""
        from ..router.feedback import feedback_event

        if not isinstance(data, dict):
            raise bad_request("the feedback body must be a JSON object")
        request_id = data.get("request_id") or data.get("id")
        verdict = data.get("verdict")
        if not isinstance(request_id, str) or not request_id:
            raise bad_request("`request_id` is required (the answer's id)", param="request_id")
        if verdict not in VERDICTS:
            raise bad_request(f"`verdict` must be one of {list(VERDICTS)}", param="verdict")
        note = data.get("note")
        if note is not None and not isinstance(note, str):
            raise bad_request("`note` must be a string", param="note")
        route = data.get("route") or self.pool.route_of(request_id)
        if not isinstance(route, str):
            raise GatewayError(
                404,
                f"unknown request id {request_id!r} (not an id this gateway answered with): "
                "pass `route` too",
                param="request_id",
                code="request_not_found",
            )
        correction = data.get("correction")
        canary = None
        if route == GATEWAY_LOG:
            if client.key is not None and not client.key.models:
                client.check_model(GATEWAY_LOG)  # refuses: the key calls routes only
            self.direct.log.feedback(
                feedback_event(route, request_id, verdict, correction=correction, note=note)
            )
        else:
            client.check_route(route)
            found = self.pool.get(route).feedback(
                request_id, verdict, correction=correction, note=note
            )
            if found is not None:
                canary = {
                    "action": found.action,
                    "rollback_arms": found.rollback_arms,
                    "weights": self.pool.get(route).weights,
                }
        self.metrics.feedback.labels(route, verdict).inc()
        return {"request_id": request_id, "route": route, "recorded": True, "canary": canary}

    # ---- models -------------------------------------------------------------------------
    def models(self, client: Client) -> list[dict[str, Any]]:
        """Routes, prompt versions by label and alias, and the models they name, as far as
        this client may call them."""
        from ..registry.core import Registry

        ids: dict[str, str] = {}
        for name in self.pool.names():
            if client.may_use_route(name):
                ids[f"{ROUTE_PREFIX}{name}"] = "driftgate-route"
        prompts = self.ws.unbound_prompts()
        refs = [p.ref for p in prompts if p.version]
        for target, aliases in Registry(self.ws).aliases.read().aliases.items():
            if target.startswith("prompt/"):
                refs += [f"{target.partition('/')[2]}@{alias}" for alias in aliases]
        models = {p.model for p in prompts if p.model}
        for router in self.pool.routers.values():
            models |= {a.model for a in router.spec.arms if a.model}
            models |= {s.model for s in router.spec.shadow if s.model}
            models |= set(router.spec.fallbacks)
        for ref in sorted(refs):
            if client.may_use_model(ref):
                ids[ref] = "driftgate-prompt"
        if self.settings.passthrough:
            for model in sorted(models):
                if client.may_use_model(model):
                    ids.setdefault(model, "driftgate-model")
        return [{"id": i, "object": "model", "created": 0, "owned_by": o} for i, o in ids.items()]

    async def aclose(self) -> None:
        """Drain shadow calls, close providers, flush every traffic log."""
        self.ready = False
        await self.pool.aclose()
        await self.direct.aclose()
        if self.tracing is not None:
            self.tracing.shutdown()
