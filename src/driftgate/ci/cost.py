"""The cost guard: how many calls a gate would make, how many the response cache already
answers, and what the rest would cost — computed without calling anything.

Each planned call is rendered and its cache key looked up exactly as the engine would
(`providers/cache.py`), so "cached" means "will not be called". Prices come from litellm's
bundled price table, read offline (`LITELLM_LOCAL_MODEL_COST_MAP=True` before the lazy
import; litellm is imported only when a hosted model has uncached calls). Simulator
models cost their profile's `cost_per_1k_tokens`; the local model and replay cost nothing.

Token counts are estimates: input from the rendered messages (~1.3 tokens per word, the
simulator's own rule), output at the prompt's `max_tokens` (or 256 when unset) — an upper
bound, which is what a budget should be checked against.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from ..errors import TemplateError
from ..providers.base import ModelConfig
from .baseline import ArmSpec, SidePlan
from .schema import CallEstimate

DEFAULT_OUTPUT_TOKENS = 256
FREE_PREFIXES = ("local/", "replay/")


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    words = sum(len(str(m.get("content", "")).split()) for m in messages)
    return round(words * 1.3) + 4 * len(messages)  # a few tokens of chat framing per message


def price(model: ModelConfig, input_tokens: int, output_tokens: int) -> float | None:
    """USD for this many tokens on `model`; None when the price is unknown."""
    mid = model.id
    if mid.startswith(FREE_PREFIXES):
        return 0.0
    if mid.startswith("sim/"):
        from ..providers.simulator import get_profile

        return (input_tokens + output_tokens) / 1000 * get_profile(mid).cost_per_1k_tokens
    from ..providers import provider_prefixes

    if mid.partition("/")[0] in provider_prefixes():
        return None  # a plugin provider: not litellm's, so litellm's table cannot price it
    litellm = _litellm()
    try:
        prompt_usd, completion_usd = litellm.cost_per_token(
            model=mid, prompt_tokens=input_tokens, completion_tokens=output_tokens
        )
    except Exception:  # noqa: BLE001 - litellm raises plain Exceptions for unknown models
        return None
    return float(prompt_usd) + float(completion_usd)


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    return litellm


class _CacheProbe:
    """Read-only lookups in the response cache; never creates the file."""

    def __init__(self, path: Path) -> None:
        self.cache = None
        if path.is_file():
            from ..providers.cache import ResponseCache

            self.cache = ResponseCache(path)

    def has(self, key: str) -> bool:
        return self.cache is not None and self.cache.get(key) is not None

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


def estimate_side(
    side: SidePlan, arms: list[ArmSpec], *, label: Literal["head", "base"], suite: str
) -> list[CallEstimate]:
    """Calls, cache hits, tokens and cost of running `arms` of a planned side."""
    from ..providers import create_provider
    from ..providers.cache import cache_key

    plan = side.plan
    if not arms:
        return []
    probe = _CacheProbe(plan.workspace.cache_dir / "responses.sqlite")
    stats = {a.name: {"calls": 0, "cached": 0, "in": 0, "out": 0} for a in arms}
    cacheable = {
        a.name: create_provider(a.arm.model, workspace=plan.workspace).cacheable for a in arms
    }
    try:
        for es in plan.evalsets:
            for case in plan.cases(es):
                for spec in arms:
                    arm = spec.arm
                    try:
                        messages = arm.prompt.render(
                            {**case.template_context(), **arm.context}, case_id=case.id
                        )
                    except TemplateError:
                        continue  # recorded as a template error by the engine: no call
                    st = stats[spec.name]
                    in_tok = estimate_tokens(messages)
                    out_tok = int(arm.params.get("max_tokens") or DEFAULT_OUTPUT_TOKENS)
                    for r in range(plan.repeat):
                        st["calls"] += 1
                        if cacheable[spec.name] and probe.has(
                            _key(cache_key, arm, case, messages, r)
                        ):
                            st["cached"] += 1
                        else:
                            st["in"] += in_tok
                            st["out"] += out_tok
    finally:
        probe.close()
    out = []
    for spec in arms:
        st = stats[spec.name]
        cost = price(spec.arm.model, st["in"], st["out"]) if st["calls"] > st["cached"] else 0.0
        out.append(
            CallEstimate(
                suite=suite,
                side=label,
                arm=spec.name,
                model=spec.arm.model.id,
                calls=st["calls"],
                cached=st["cached"],
                input_tokens=st["in"],
                output_tokens=st["out"],
                cost_usd=cost,
                note=None if cost is not None else "no price in litellm's table",
            )
        )
    return out


def _key(cache_key: Any, arm: Any, case: Any, messages: list[dict[str, str]], repeat: int) -> str:
    from ..providers.base import CaseHint

    prompt = arm.prompt
    hint = CaseHint(
        id=case.id,
        expected=case.expected,
        segment=case.segment,
        labels=prompt.output.labels,
        output_type=prompt.output.type,
        repeat=repeat,
    )
    return cache_key(
        arm.model.id,
        arm.model.api_base,
        messages,
        arm.params,
        arm.response_format(),
        repeat,
        case=hint,
        labels=arm.request_labels(),
    )


def fmt_cost(usd: float) -> str:
    """Dollars as every report shows them (`driftgate.report._format.fmt_cost`): the
    gate's progress lines are written from here, below the report layer."""
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


def format_estimate(items: list[CallEstimate]) -> list[str]:
    """Progress lines the gate echoes before it runs: one per arm, then the total."""
    lines = []
    for i in items:
        share = f"{i.cached / i.calls:.0%}" if i.calls else "—"
        cost = fmt_cost(i.cost_usd) if i.cost_usd is not None else "unknown price"
        lines.append(
            f"  {i.side:<4}  {i.suite} · {i.arm}: {i.calls} calls, {i.cached} cached ({share}), "
            f"est. {cost}"
        )
    calls = sum(i.calls for i in items)
    cached = sum(i.cached for i in items)
    total = sum(i.cost_usd or 0.0 for i in items)
    unknown = sorted({i.model for i in items if i.cost_usd is None})
    share = f"{cached / calls:.0%}" if calls else "—"
    lines.append(
        f"total: {calls} calls, {cached} served from the cache ({share}), "
        f"{calls - cached} to make, estimated cost {fmt_cost(total)}"
        + (f" (+ unknown prices: {', '.join(unknown)})" if unknown else "")
    )
    return lines
