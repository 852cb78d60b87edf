"""Serve a route: pick a live arm per request, mirror to shadow arms, log, take feedback.

    router = Router("categorize")                         # routes/categorize.yaml
    answer = await router.complete({"description": "UBER *TRIP"}, sticky="user-42")
    answer.output, answer.parsed, answer.arm, answer.id
    router.feedback(answer.id, "edit", correction="transport")
    await router.aclose()                                 # waits for shadow calls
    # synchronous code: router.complete_sync(...), then router.close()

Assignment is a hash of the sticky value (the request's `sticky_key` variable, or
`sticky=`; else the request id) into [0, 100) against the live weights in order, so a user
stays on one arm while the canary runs and a weight change moves the fewest users. Shadow
arms get the same request in the background (sampled by their own hash); their answers
are logged and scored, never returned, and never delay the live answer. When an arm's
model fails after its retries, the route's fallback models are tried in order.

Every `canary.check_every` feedback events, the router judges its canaries
(`canary.py`) and, with `auto_rollback`, moves a worse canary's weight to the baseline:
the state file changes, and this and every other serving process route by it from
their next request. With a shared store, the move is made on the store and routers on
other machines follow within `shared_store.staleness_s` (a refresher thread copies it).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from ..artifacts.route import RouteArm, RouteSpec, ShadowArm, load_route
from ..errors import ConfigError, UnknownNameError
from ..prompt import Prompt
from ..providers.base import CaseHint, CompletionRequest, ModelConfig, Provider, ProviderError
from ..registry.refresh import Refresher
from ..registry.shared import shared_state
from ..registry.versions import VersionNotFound
from ..workspace import Workspace
from . import state as route_state
from .canary import CanaryVerdict, guard
from .log import Decision, TrafficLog, Verdict, traffic_dir

if TYPE_CHECKING:
    from ..routing.rule import RoutingRule
from .tally import Tally, answer_quality


@dataclass
class _Call:
    vars: dict[str, Any]
    request_id: str
    sticky: str | None  # a hash of the sticky value
    expected: Any  # simulated traffic only
    segment: str | None = None


@dataclass
class _ArmRuntime:
    prompt: Prompt
    context: dict[str, Any]
    parse: Any
    models: list[ModelConfig]  # the arm's model, then the route's fallbacks


class _DecisionBase(TypedDict):
    """The fields every decision of one request on one arm shares, whatever its outcome."""

    id: str
    ts: float
    route: str
    route_digest: str
    arm: str
    shadow: bool
    prompt: str
    prompt_digest: str
    choice: str | None
    sticky: str | None
    segment: str | None
    vars: dict[str, Any]


# Wraps each call to a model: (route, arm, model, shadow, fallback) -> a context manager
# around the call, its retries included (the gateway's tracing spans).
CallHook = Callable[[str, str, str, bool, bool], AbstractContextManager[object]]
_NO_HOOK: AbstractContextManager[object] = nullcontext()


def bucket(route: str, key: str, salt: str = "") -> float:
    """A stable position in [0, 100) for `key`: the same key always lands in the same place."""
    h = hashlib.sha256(f"{route}\0{salt}\0{key}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 * 100


class Router:
    def __init__(
        self,
        route: str | Path | RouteSpec,
        *,
        workspace: Workspace | Path | str | None = None,
    ) -> None:
        self.ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
        self.spec = route if isinstance(route, RouteSpec) else load_route_ref(self.ws, route)
        self.digest = self.spec.digest  # the route file's version, on every logged decision
        self.log = TrafficLog(self.ws, self.spec.name)
        self._arms: dict[str, _ArmRuntime] = {}
        self._rules: dict[str, RoutingRule] = {}  # rule arm → the rule version it serves
        self._providers: dict[str, Provider] = {}
        self._semaphores: dict[str, AbstractAsyncContextManager[Any]] = {}
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        # Polled on every request: resolved once (Workspace.state_dir resolves a path each
        # call, a third of the router's own time per request before this).
        self._state_file = route_state.state_dir(self.ws, self.spec.name) / "state.json"
        self._aliases_file = self.ws.state_dir / "registry" / "aliases.json"
        # With a shared store a thread copies its aliases and this route's weights to those
        # files within the staleness bound (a first copy now); requests only poll the files.
        shared = shared_state(self.ws)
        self._refresher = Refresher.watch(shared, self._watched()) if shared is not None else None
        self._weights = route_state.current_weights(self.ws, self.spec)
        self._mirrored = route_state.mirrored_arms(self.ws, self.spec)
        self._stamp = route_state.file_stamp(self._state_file)
        self._registry_stamp = self._aliases_stamp()
        self._feedback_seen = 0
        self.last_canary: CanaryVerdict | None = None
        self.call_hook: CallHook | None = None  # None: nothing around a call
        self._tally = Tally(
            self.digest, traffic_dir(self.ws, self.spec.name), quality=answer_quality(self.spec)
        )
        self._loop: asyncio.AbstractEventLoop | None = None  # complete_sync's, once used
        self._thread: threading.Thread | None = None
        self._loop_lock = threading.Lock()
        for arm in self._all_arms():  # fail at start, not per request
            try:
                self._runtime(arm)
            except (VersionNotFound, UnknownNameError):
                # A candidate arm at weight 0 whose alias is not set yet serves nobody: it
                # is resolved when a move gives it traffic or mirrors it.
                if self._serves(arm.name):
                    raise

    def _watched(self) -> list[Path]:
        return [self._state_file, self._aliases_file]

    def _all_arms(self) -> list[RouteArm | ShadowArm]:
        return [*self.spec.arms, *self.spec.shadow]

    def _serves(self, arm: str) -> bool:
        live = next((a for a in self.spec.arms if a.name == arm), None)
        return live is None or self.weights.get(arm, 0) > 0 or arm in self._mirrored

    # ---- arms ---------------------------------------------------------------------------
    def _aliases_stamp(self) -> tuple[int, int] | None:
        return route_state.file_stamp(self._aliases_file)

    def _refresh_aliases(self) -> None:
        """Arms naming `prompt@production` (an alias) follow alias moves without a restart:
        when the registry's alias state changes, every arm's prompt is resolved again."""
        stamp = self._aliases_stamp()
        if stamp != self._registry_stamp:
            self._registry_stamp = stamp
            self._arms.clear()
            self._rules.clear()

    def _rule(self, arm: RouteArm) -> RoutingRule:
        """The rule a rule arm serves now (re-resolved after an alias move)."""
        rule = self._rules.get(arm.name)
        if rule is None:
            from .rules import checked_rule

            rule = self._rules[arm.name] = checked_rule(self.ws, self.spec, arm)
            for choice in arm.choices:
                self._runtime(self.spec.arm(choice))
        return rule

    async def _pick(self, arm: RouteArm, call: _Call) -> RouteArm | ShadowArm:
        """The choice a rule arm's rule makes for this request."""
        from ..routing.features import RequestFeatures

        rule = self._rule(arm)
        request = RequestFeatures(vars=call.vars, segment=call.segment)
        if rule.features.spec.text:  # embedding is CPU work: keep the event loop free
            choice = await asyncio.to_thread(rule.choose_one, request)
        else:
            choice = rule.choose_one(request)
        return self.spec.arm(choice)

    def _runtime(self, arm: RouteArm | ShadowArm) -> _ArmRuntime:
        if isinstance(arm, RouteArm) and arm.rule is not None:
            self._rule(arm)  # resolved (and its choices' runtimes built) up front
            return self._arms[arm.choices[0]]
        rt = self._arms.get(arm.name)
        if rt is None:
            from ..engine.plan import artifact_context
            from ..providers import create_provider
            from ..registry.prompts import find_prompt
            from ..scoring.parsing import output_parser

            prompt = find_prompt(self.ws, arm.prompt_ref)
            model_id = arm.model or prompt.model
            if model_id is None:
                raise ConfigError(
                    f"route {self.spec.name!r}: arm {arm.name!r} names no model and prompt "
                    f"{prompt.ref} has none",
                    field=f"arms[{arm.name}].model",
                )
            models = [ModelConfig(id=m) for m in [model_id, *self.spec.fallbacks]]
            for m in models:
                if m.id not in self._providers:
                    self._providers[m.id] = create_provider(m, workspace=self.ws)
            rt = _ArmRuntime(
                prompt, artifact_context(self.ws, prompt), output_parser(prompt.output), models
            )
            self._arms[arm.name] = rt
        return rt

    def _slots(self, model: ModelConfig) -> AbstractAsyncContextManager[Any]:
        """Calls in flight to one model: the route's `max_in_flight`, or fewer when the
        provider serves fewer at once (the local model: one per core); no cap otherwise, as
        in LiteLLM's Router (a gateway must not queue behind an eval run's default of 32).
        Requests wait here, not inside the provider's timeout."""
        slots = self._semaphores.get(model.id)
        if slots is None:
            provider = self._providers[model.id]
            limits = [self.spec.max_in_flight, getattr(provider, "max_concurrency", None)]
            limit = min((n for n in limits if n), default=None)
            slots = self._semaphores[model.id] = (
                asyncio.Semaphore(limit) if limit else nullcontext()
            )
        return slots

    @property
    def weights(self) -> dict[str, float]:
        """Live weights now: the route file's, or the moved ones (re-read when they change)."""
        stamp = route_state.file_stamp(self._state_file)
        if stamp != self._stamp:
            self._weights = route_state.current_weights(self.ws, self.spec)
            self._mirrored = route_state.mirrored_arms(self.ws, self.spec)
            self._stamp = stamp
        return self._weights

    @property
    def state_key(self) -> tuple[object, ...]:
        """Changes whenever what this router serves may have changed (a weight move, a
        canary verdict's rollback, an alias move), read by the same `stat`s serving does:
        a cache key for anything a caller derives from the live arms."""
        self._refresh_aliases()
        self.weights  # noqa: B018 - refreshes the weights' stamp
        return (self._stamp, self._registry_stamp)

    def choose(self, key: str) -> RouteArm:
        """The live arm for a sticky key (or request id)."""
        point = bucket(self.spec.name, key)
        weights = self.weights
        live = [a for a in self.spec.arms if weights.get(a.name, 0) > 0]
        edge = 0.0
        for arm in live:
            edge += weights[arm.name]
            if point < edge:
                return arm
        return live[-1]  # float rounding at the top edge

    # ---- serving ------------------------------------------------------------------------
    async def complete(
        self,
        vars: dict[str, Any],
        *,
        request_id: str | None = None,
        sticky: str | None = None,
        expected: Any = None,
        segment: str | None = None,
    ) -> Decision:
        """Answer one request on its arm (falling back when the arm's model fails).

        `segment` (default: the value of the route's `segment_by` variable) is logged with
        the decision, so quality is reported per segment.

        Raises the last `ProviderError` when the arm's model and every fallback failed, and
        `TemplateError` when the prompt cannot render these variables; either way the failed
        decision is logged first (it counts against the arm's error rate).

        `expected` is for simulated traffic in tests and demos only: a `sim/` model answers
        it at its configured accuracy. Like in eval runs, only the simulator reads it.
        """
        request_id = request_id or uuid.uuid4().hex
        if sticky is None and self.spec.sticky_key and vars.get(self.spec.sticky_key) is not None:
            sticky = str(vars[self.spec.sticky_key])
        self._refresh_aliases()
        arm = self.choose(sticky if sticky is not None else request_id)
        sticky_hash = hashlib.sha256(sticky.encode()).hexdigest()[:16] if sticky else None
        if segment is None and self.spec.segment_by and vars.get(self.spec.segment_by) is not None:
            segment = str(vars[self.spec.segment_by])
        call = _Call(vars, request_id, sticky_hash, expected, segment)
        try:
            decision = await self._answer(arm, call, shadow=False)
        finally:
            self._mirror_all(call)
        return decision

    def _loggable(self, vars: dict[str, Any]) -> dict[str, Any]:
        """The request's variables as logged: without the sticky key's value (a user id,
        say), which the log keeps only as a hash."""
        key = self.spec.sticky_key
        return {k: v for k, v in vars.items() if k != key} if key and key in vars else vars

    def _mirror_all(self, call: _Call) -> None:
        request_id = call.request_id
        self.weights  # noqa: B018 - refreshes the mirrored arms with the weights
        trial = [a for a in self.spec.arms if a.name in self._mirrored]
        mirrors: list[RouteArm | ShadowArm] = [*self.spec.shadow, *trial]
        for shadow in mirrors:
            if isinstance(shadow, RouteArm):  # a live arm on trial: every request
                task = asyncio.create_task(self._mirror(shadow, call))
                self._shadow_tasks.add(task)
                task.add_done_callback(self._shadow_tasks.discard)
                continue
            if bucket(self.spec.name, request_id, salt=shadow.name) < shadow.sample * 100:
                task = asyncio.create_task(self._mirror(shadow, call))
                self._shadow_tasks.add(task)
                task.add_done_callback(self._shadow_tasks.discard)

    async def _mirror(self, arm: RouteArm | ShadowArm, call: _Call) -> None:
        try:
            await self._answer(arm, call, shadow=True)
        except Exception:  # noqa: BLE001 - a shadow failure must never reach the live path
            pass

    async def _answer(self, arm: RouteArm | ShadowArm, call: _Call, *, shadow: bool) -> Decision:
        from ..errors import TemplateError
        from ..providers.retry import complete_with_retries

        choice: str | None = None
        served_digest: str | None = None
        if isinstance(arm, RouteArm) and arm.rule is not None:
            picked = await self._pick(arm, call)
            choice, served_digest = picked.name, self._rules[arm.name].digest
            rt = self._runtime(picked)
        else:
            rt = self._runtime(arm)
        vars, request_id = call.vars, call.request_id
        hint = CaseHint(
            id=request_id,
            expected=call.expected,
            segment=call.segment,
            labels=rt.prompt.output.labels,
            output_type=rt.prompt.output.type,
        )
        base = _DecisionBase(
            id=request_id, ts=time.time(), route=self.spec.name, route_digest=self.digest,
            arm=arm.name, shadow=shadow, prompt=rt.prompt.ref,
            prompt_digest=served_digest or rt.prompt.digest, choice=choice,
            sticky=call.sticky, segment=call.segment, vars=self._loggable(vars),
        )  # fmt: skip
        try:
            messages = rt.prompt.render({**vars, **rt.context}, case_id=request_id)
        except TemplateError as exc:
            self.log.decision(
                Decision(**base, model=rt.models[0].id, error=exc.message, error_kind="template")
            )
            raise
        start = time.perf_counter()
        error: ProviderError | None = None
        attempts = 0
        tools, tool_choice = rt.prompt.request_tools()
        for i, model in enumerate(rt.models):
            request = CompletionRequest(
                model=model.id,
                messages=messages,
                params={**rt.prompt.params.as_kwargs(), **model.params},
                response_format={"type": "json_object"}
                if rt.prompt.output.type == "json"
                else None,
                timeout_s=model.timeout_s,
                case=hint,
                labels=rt.prompt.request_labels(),
                tools=tools,
                tool_choice=tool_choice,
            )
            hook = self.call_hook
            around = (
                _NO_HOOK
                if hook is None
                else hook(self.spec.name, arm.name, model.id, shadow, i > 0)
            )
            try:
                async with self._slots(model):
                    with around:
                        completion, n = await complete_with_retries(
                            self._providers[model.id], request, max_retries=model.max_retries
                        )
            except ProviderError as exc:
                error, attempts = exc, attempts + getattr(exc, "attempts", 1)
                continue
            if completion.tool_calls:  # a tool-calling answer is its calls, as in eval runs
                parsed, parse_error = {"tool_calls": completion.tool_calls}, None
            else:
                parsed, parse_error = rt.parse(completion.text)
            decision = Decision(
                **base,
                model=model.id,
                fallback=i > 0,
                output=completion.text,
                parsed=parsed,
                parse_error=parse_error,
                attempts=attempts + n,
                latency_ms=(time.perf_counter() - start) * 1000,
                cost_usd=completion.cost_usd,
                confidence=completion.confidence,
                label_probs=completion.label_probs,
            )
            self.log.decision(decision)
            return decision
        assert error is not None
        decision = Decision(
            **base,
            model=rt.models[0].id,
            error=str(error),
            error_kind=error.kind,
            attempts=attempts,
            latency_ms=(time.perf_counter() - start) * 1000,
        )
        self.log.decision(decision)
        raise error

    # ---- feedback -----------------------------------------------------------------------
    def feedback(
        self, request_id: str, verdict: Verdict, *, correction: Any = None, note: str | None = None
    ) -> CanaryVerdict | None:
        """Record what the user did with an answer. Every `check_every` events the canaries
        are judged; returns that verdict when a check ran (after any rollback it made)."""
        from .feedback import check_due, feedback_event  # the rule the CLI shares

        event = feedback_event(
            self.spec.name, request_id, verdict, correction=correction, note=note
        )
        self.log.feedback(event)
        self._feedback_seen += 1  # this router's own events: it holds the tally
        if not check_due(self._feedback_seen, self.spec):
            return None
        return self.check_canary()

    def check_canary(self, *, rollback: bool | None = None) -> CanaryVerdict:
        """Judge the canaries now; roll worse ones back when the policy (or `rollback`) says."""
        self._refresh_aliases()
        verdict, _moved = guard(
            self.ws, self.spec, rollback=rollback, tally=self._tally, digests=self._digests()
        )
        self.last_canary = verdict
        return verdict

    def _digests(self) -> dict[str, str | None]:
        """The prompt digest each arm serves now: its evidence is counted, older versions' not."""
        out: dict[str, str | None] = {}
        for arm in self._all_arms():
            try:
                out[arm.name] = self._runtime(arm).prompt.digest
            except (VersionNotFound, UnknownNameError):
                out[arm.name] = None
        return out

    async def aclose(self) -> None:
        """Wait for shadow calls in flight, then close providers and log files."""
        if self._refresher is not None:
            self._refresher.unwatch(self._watched())
            self._refresher = None
        if self._shadow_tasks:
            await asyncio.gather(*list(self._shadow_tasks), return_exceptions=True)
        for provider in self._providers.values():
            try:
                await provider.aclose()
            except Exception:  # noqa: BLE001 - closing must not mask the caller's outcome
                pass
        self.log.close()

    # ---- for applications without an event loop -------------------------------------------
    def complete_sync(
        self,
        vars: dict[str, Any],
        *,
        request_id: str | None = None,
        sticky: str | None = None,
        expected: Any = None,
        segment: str | None = None,
        timeout_s: float | None = None,
    ) -> Decision:
        """`complete` for synchronous code (a Flask view, a script). The calls run on an
        event loop of the router's own, in a background thread, so shadow calls go on after
        this returns. Use either this or the async API on one router, not both: provider
        connections belong to the loop that opened them."""
        future = asyncio.run_coroutine_threadsafe(
            self.complete(
                vars, request_id=request_id, sticky=sticky, expected=expected, segment=segment
            ),
            self._background_loop(),
        )
        return future.result(timeout_s)

    def close(self) -> None:
        """Synchronous `aclose`: waits for shadow calls, closes providers, stops the loop."""
        loop = self._loop
        if loop is None:
            asyncio.run(self.aclose())
            return
        asyncio.run_coroutine_threadsafe(self.aclose(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join()
        loop.close()
        self._loop = self._thread = None

    def _background_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name=f"driftgate-router-{self.spec.name}", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop


def load_route_ref(ws: Workspace, route: str | Path) -> RouteSpec:
    """A route by name (routes/NAME.yaml|yml|json) or by path."""
    path = Path(route)
    if path.suffix in {".yaml", ".yml", ".json"}:
        return load_route(ws.inside(path, what="route file"))
    from .._files import check_name, confined

    folder = ws.path("routes")
    for ext in (".yaml", ".yml", ".json"):
        candidate = folder / f"{check_name(str(route), 'route')}{ext}"
        if candidate.is_file():
            confined(candidate, ws.root, kind="route", name=str(route))  # no link out
            return load_route(candidate)
    from ..errors import UnknownNameError

    known = sorted(p.stem for p in folder.glob("*.y*ml")) + sorted(
        p.stem for p in folder.glob("*.json")
    )
    where = folder.relative_to(ws.root) if folder.is_relative_to(ws.root) else folder
    raise UnknownNameError(
        "route", str(route), known, searched=[f"{where / str(route)}.{{yaml,yml,json}}"]
    )
