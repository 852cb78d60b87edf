"""Requests served without a route: `PROMPT@ALIAS` (a prompt version rendered with the
request's variables, on its model) and a model id called as it is (pass-through).

Both are logged like a route's answers, as `Decision` lines in the traffic log of the
pseudo-route `@gateway` (`.driftgate/traffic/@gateway/`; `@` is never in a route's name):
arm `prompt` or `model`, the prompt's ref and digest (empty for a pass-through, whose
messages are logged as its `vars`), the model, the latency, the error. Feedback on them is
logged there too; with no canary there is no guard to run.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, GatewayError, TemplateError, UnknownNameError, VersionNotFound
from ..providers.base import CaseHint, CompletionRequest, ModelConfig, Provider, ProviderError
from ..router.log import Decision, TrafficLog
from .routes import CONTEXT_NAMES, GATEWAY_LOG, new_request_id

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..prompt import Prompt
    from ..router.router import CallHook
    from ..workspace import Workspace

NAMES_TTL_S = 2.0


@dataclass
class _Resolved:
    stamp: Any  # the alias state's file stamp when resolved
    prompt: Prompt
    context: dict[str, Any]
    variables: list[str]


@dataclass
class Answer:
    """One answered request, whichever way it was served."""

    request_id: str
    text: str
    model: str  # the model that answered
    route: str | None = None
    arm: str | None = None
    version: str | None = None  # "REF;digest=DIGEST" of the prompt that rendered it
    finish_reason: str = "stop"
    usage: dict[str, int] | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    tool_calls: list[dict[str, str]] | None = None  # {id, name, arguments}


def version_header(ref: str, prompt_digest: str) -> str:
    return f"{ref};digest={prompt_digest}"


class DirectCalls:
    """Prompt versions and models served directly, each model's provider built once."""

    def __init__(
        self,
        ws: Workspace,
        on_decision: Callable[[Decision], None],
        call_hook: CallHook | None = None,
    ) -> None:
        self.ws = ws
        self._call_hook = call_hook  # tracing: a span around each model call
        self.log = TrafficLog(ws, GATEWAY_LOG)
        self.log.listeners.append(on_decision)
        self._providers: dict[str, Provider] = {}
        self._prompts: dict[str, _Resolved] = {}
        self._names: tuple[float, set[str]] = (0.0, set())
        # With a shared store a thread copies its alias state here within the staleness
        # bound; requests keep polling the local file.
        from ..registry.refresh import Refresher
        from ..registry.shared import shared_state

        shared = shared_state(ws)
        self._aliases_file = ws.state_dir / "registry" / "aliases.json"
        self._refresher = Refresher.watch(shared, [self._aliases_file]) if shared else None

    def served(self, model: str) -> bool:
        """Whether `model` (a prompt ref or a model id) was resolved here before: only
        those are metric labels, so a client cannot mint label values."""
        return model in self._providers or model in self._prompts

    # ---- prompts ------------------------------------------------------------------------
    def prompt_names(self) -> set[str]:
        """Names of the workspace's prompt files and registered prompts, read again at most
        every NAMES_TTL_S seconds (every request would read every prompt file)."""
        read_at, names = self._names
        if time.monotonic() - read_at < NAMES_TTL_S:
            return names
        from ..registry.core import Registry

        names = {p.name for p in self.ws.unbound_prompts()}
        # This machine's copy (no store request on a request's path).
        targets = Registry(self.ws).versions.targets(pull=False)
        names |= {t.partition("/")[2] for t in targets if t.startswith("prompt/")}
        self._names = (time.monotonic(), names)
        return names

    def is_prompt_ref(self, model: str) -> bool:
        name, at, selector = model.rpartition("@")
        return bool(at and name and selector) and name in self.prompt_names()

    def prompt(self, ref: str) -> _Resolved:
        """The prompt version `ref` names now (re-resolved when an alias moves), the
        artifact context it renders with and the request variables it reads."""
        from ..router.state import file_stamp

        stamp = file_stamp(self.ws.state_dir / "registry" / "aliases.json")
        cached = self._prompts.get(ref)
        if cached is not None and cached.stamp == stamp:
            return cached
        from ..engine.plan import artifact_context
        from ..registry.prompts import find_prompt

        try:
            prompt = find_prompt(self.ws, ref)
        except (VersionNotFound, UnknownNameError) as exc:
            raise GatewayError(
                404, exc.message, code="model_not_found",
                param="model",
            ) from None  # fmt: skip
        names = sorted(prompt.template_variables() - CONTEXT_NAMES)
        resolved = _Resolved(stamp, prompt, artifact_context(self.ws, prompt), names)
        self._prompts[ref] = resolved
        return resolved

    async def complete_prompt(self, ref: str, vars: dict[str, Any]) -> Answer:
        resolved = self.prompt(ref)
        prompt, context = resolved.prompt, resolved.context
        if prompt.model is None:
            raise GatewayError(
                400, f"prompt {prompt.ref} names no model", param="model", code="no_model"
            )
        request_id = new_request_id(GATEWAY_LOG)
        base = self._base(request_id, "prompt", prompt.ref, prompt.digest, vars)
        try:
            messages = prompt.render({**vars, **context}, case_id=request_id)
        except TemplateError as exc:
            self.log.decision(Decision(**base, model=prompt.model, error=exc.message))
            raise GatewayError(400, exc.message, param="vars", code="template_error") from None
        tools, tool_choice = prompt.request_tools()
        request = CompletionRequest(
            model=prompt.model,
            messages=messages,
            params=prompt.params.as_kwargs(),
            response_format={"type": "json_object"} if prompt.output.type == "json" else None,
            case=CaseHint(id=request_id, labels=prompt.output.labels),
            labels=prompt.request_labels(),
            tools=tools,
            tool_choice=tool_choice,
        )
        answer = await self._call(request, base)
        answer.version = version_header(prompt.ref, prompt.digest)
        return answer

    # ---- pass-through -------------------------------------------------------------------
    async def complete_model(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> Answer:
        request_id = new_request_id(GATEWAY_LOG)
        logged: dict[str, Any] = {"messages": messages}
        if tools:
            logged["tools"] = [t["function"]["name"] for t in tools]
        base = self._base(request_id, "model", "", "", logged)
        request = CompletionRequest(
            model=model,
            messages=messages,
            params={k: v for k, v in params.items() if k != "response_format"},
            response_format=params.get("response_format"),
            case=CaseHint(id=request_id),
            tools=tools,
            tool_choice=tool_choice,
        )
        return await self._call(request, base)

    # ---- shared -------------------------------------------------------------------------
    def _base(
        self, request_id: str, arm: str, ref: str, prompt_digest: str, vars: dict[str, Any]
    ) -> dict[str, Any]:
        return dict(
            id=request_id, ts=time.time(), route=GATEWAY_LOG, route_digest="", arm=arm,
            prompt=ref, prompt_digest=prompt_digest, vars=vars,
        )  # fmt: skip

    def _provider(self, model: str) -> tuple[Provider, ModelConfig]:
        config = ModelConfig(id=model)
        provider = self._providers.get(model)
        if provider is None:
            from ..providers import create_provider

            try:
                provider = create_provider(config, workspace=self.ws)
            except (ConfigError, UnknownNameError) as exc:
                raise GatewayError(
                    404, f"unknown model {model!r}: {exc.message}", code="model_not_found",
                    param="model",
                ) from None  # fmt: skip
            self._providers[model] = provider
        return provider, config

    async def _call(self, request: CompletionRequest, base: dict[str, Any]) -> Answer:
        from ..providers.retry import complete_with_retries

        provider, config = self._provider(request.model)
        request.timeout_s = config.timeout_s
        hook = self._call_hook
        around = nullcontext() if hook is None else hook(GATEWAY_LOG, base["arm"], request.model,
                                                          False, False)  # fmt: skip
        start = time.perf_counter()
        try:
            with around:
                completion, attempts = await complete_with_retries(
                    provider, request, max_retries=config.max_retries
                )
        except ProviderError as exc:
            self.log.decision(
                Decision(
                    **base,
                    model=request.model,
                    error=str(exc),
                    error_kind=exc.kind,
                    attempts=getattr(exc, "attempts", 1),
                    latency_ms=(time.perf_counter() - start) * 1000,
                )  # fmt: skip
            )
            raise
        self.log.decision(
            Decision(
                **base,
                model=request.model,
                output=completion.text,
                # A tool-calling answer is its calls: what a label or a judge reads.
                parsed={"tool_calls": completion.tool_calls} if completion.tool_calls else None,
                attempts=attempts,
                latency_ms=(time.perf_counter() - start) * 1000,
                cost_usd=completion.cost_usd,
                confidence=completion.confidence,
                label_probs=completion.label_probs,
            )  # fmt: skip
        )
        usage = None
        if completion.input_tokens is not None and completion.output_tokens is not None:
            usage = {
                "prompt_tokens": completion.input_tokens,
                "completion_tokens": completion.output_tokens,
                "total_tokens": completion.input_tokens + completion.output_tokens,
            }
        finish = completion.finish_reason or ("tool_calls" if completion.tool_calls else "stop")
        return Answer(
            base["id"], completion.text, request.model, arm=base["arm"],
            finish_reason=finish, usage=usage, tool_calls=completion.tool_calls,
        )  # fmt: skip

    async def aclose(self) -> None:
        if self._refresher is not None:
            self._refresher.unwatch([self._aliases_file])
            self._refresher = None
        providers, self._providers = list(self._providers.values()), {}
        await asyncio.gather(*(p.aclose() for p in providers), return_exceptions=True)
        self.log.close()
