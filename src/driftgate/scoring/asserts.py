"""`asserts`: a list of assertions per case, as promptfoo tests carry them.

    scorers:
      - type: asserts
        items:                                   # every case (promptfoo's defaultTest)
          - {type: not-icontains, value: "as an AI"}
        transform: "output.trim()"               # every case's output first (options.transform)

    # a case (golden set line): its own assertions, transform and threshold
    {"id": "1", "vars": {...}, "metadata": {"assert": [
        {"type": "icontains", "value": "bonjour", "weight": 2},
        {"type": "javascript", "code": "output.length < 80", "transform": "output.trim()"},
        {"type": "assert-set", "threshold": 0.5, "assert": [...]}],
      "transform": "output.toLowerCase()", "threshold": 0.75}}

Each item is a scorer's options (any scorer, `not-` included) plus `transform` (applied to
the output for that item only, after the case's transform) and `weight` / `metric`. The
case's score is the weighted mean of its items' values; it passes when every item with a
weight above 0 passes, or, with a `threshold` (the case's, else this scorer's), when the
score reaches it — promptfoo's rules. `assert-set` groups items the same way. An item that
cannot be scored (no output, a judge error, code that raised) makes the case a scorer error,
never a pass. Every item's result is kept in `Score.data["asserts"]`.

String options may use the case's variables (`"{{ city }}"`), judges' rubrics included.
Transforms are `compat`'s: inline JavaScript (the `js` extra) or `file://x.py`
(`script.make_transform`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pydantic import Field

from ._common import NO_OUTPUT, render
from .base import Score, ScoreContext, Scorer, ScorerConfig, ScorerFailure, scorer

_OWN_KEYS = ("transform",)
_RENDERED = ("rubric",)  # options the scorers themselves do not render per case
_CACHE_MAX = 1024


@scorer("asserts")
class Asserts(Scorer):
    """Every case's own assertions, plus `items` for all cases (module docstring)."""

    binary = False

    class Config(ScorerConfig):
        items: list[dict[str, Any]] = Field(default_factory=list, description="For every case.")
        transform: str | None = Field(None, description="Applied to every case's output.")
        sync: bool = Field(
            False,
            description="No item awaits (no judge, no embedding): cached answers score inline.",
        )
        logprobs: bool = Field(
            False, description="An item scores token log-probabilities: requests ask for them."
        )

    config: Config

    def __init__(self, config: ScorerConfig) -> None:
        super().__init__(config)
        self._scorers: dict[str, Scorer] = {}
        self._transforms: dict[str, Any] = {}

    @property
    def sync(self) -> bool:
        return self.config.sync

    @property
    def wants_logprobs(self) -> bool:
        return self.config.logprobs

    def finish(self, score: Score) -> Score:
        return score  # thresholds are applied per case (a case's own wins)

    # ---- evaluation ------------------------------------------------------------------

    async def evaluate(self, ctx: ScoreContext) -> Score:
        try:
            ctx, items, threshold = self._prepare(ctx)
            results = [await self._aitem(item, ctx) for item in items]
        except ScorerFailure as exc:
            return Score(0.0, False, reason=exc.message, error=exc.message)
        return combine(items, results, threshold)

    def evaluate_sync(self, ctx: ScoreContext) -> Score:
        try:
            ctx, items, threshold = self._prepare(ctx)
            results = [self._item(item, ctx) for item in items]
        except ScorerFailure as exc:
            return Score(0.0, False, reason=exc.message, error=exc.message)
        return combine(items, results, threshold)

    def _prepare(
        self, ctx: ScoreContext
    ) -> tuple[ScoreContext, list[dict[str, Any]], float | None]:
        if ctx.output is None and ctx.parsed is None:
            raise ScorerFailure(NO_OUTPUT)
        own = ctx.metadata.get("assert") or []
        if not isinstance(own, list):
            raise ScorerFailure(f"case {ctx.case_id!r}: metadata.assert must be a list")
        items = [*self.config.items, *own]
        transform = ctx.metadata.get("transform") or self.config.transform
        if transform:
            ctx = self._transformed(ctx, transform)
        threshold = ctx.metadata.get("threshold", self.config.threshold)
        return ctx, items, threshold

    async def _aitem(self, item: dict[str, Any], ctx: ScoreContext) -> Score:
        if item.get("type") == "assert-set":
            subs = _set_items(item)
            scores = [await self._aitem(sub, ctx) for sub in subs]
            return combine(subs, scores, item.get("threshold"))
        scorer_, ctx = self._item_setup(item, ctx)
        return await scorer_.evaluate(ctx)

    def _item(self, item: dict[str, Any], ctx: ScoreContext) -> Score:
        if item.get("type") == "assert-set":
            subs = _set_items(item)
            return combine(subs, [self._item(sub, ctx) for sub in subs], item.get("threshold"))
        scorer_, ctx = self._item_setup(item, ctx)
        if not scorer_.sync:
            raise ScorerFailure(f"assertion {item.get('type')!r} awaits a model: not sync")
        return scorer_.evaluate_sync(ctx)

    def _item_setup(self, item: dict[str, Any], ctx: ScoreContext) -> tuple[Scorer, ScoreContext]:
        if item.get("transform"):
            ctx = self._transformed(ctx, item["transform"])
        options = {k: v for k, v in item.items() if k not in _OWN_KEYS}
        for key in _RENDERED:
            if isinstance(options.get(key), str):
                options[key] = render(options[key], ctx)
        return self._scorer(options), ctx

    def _scorer(self, options: dict[str, Any]) -> Scorer:
        key = json.dumps(options, sort_keys=True, default=str)
        found = self._scorers.get(key)
        if found is None:
            from ..errors import ConfigError
            from .build import build_scorer

            try:
                found = build_scorer(options)
            except ConfigError as exc:
                raise ScorerFailure(f"assertion {options.get('type')!r}: {exc.message}") from None
            if len(self._scorers) >= _CACHE_MAX:
                self._scorers.clear()
            self._scorers[key] = found
        return found

    def _transformed(self, ctx: ScoreContext, spec: str) -> ScoreContext:
        from .script import context_of, make_transform

        fn = self._transforms.get(spec)
        if fn is None:
            try:
                fn = self._transforms[spec] = make_transform(spec)
            except ValueError as exc:
                raise ScorerFailure(str(exc)) from None
        current = (
            ctx.parsed if ctx.parsed is not None and not isinstance(ctx.parsed, str) else ctx.output
        )
        try:
            out = fn(current, context_of(ctx))
        except Exception as exc:
            raise ScorerFailure(f"transform {spec!r} raised {type(exc).__name__}: {exc}") from None
        if isinstance(out, str):
            return dataclasses.replace(ctx, output=out, parsed=None, parse_error=None)
        text = json.dumps(out, ensure_ascii=False, default=str)
        return dataclasses.replace(ctx, output=text, parsed=out, parse_error=None)


def _set_items(item: dict[str, Any]) -> list[dict[str, Any]]:
    subs = item.get("assert")
    if not isinstance(subs, list) or not subs:
        raise ScorerFailure("an assert-set needs a non-empty `assert` list")
    return subs


def combine(items: list[dict[str, Any]], scores: list[Score], threshold: float | None) -> Score:
    """promptfoo's rule: the weighted mean; pass when every weighted item passes, or when the
    mean reaches `threshold`. An item's error is the whole result's error."""
    rows = []
    total = weighted = 0.0
    all_pass = True
    error = None
    for item, s in zip(items, scores, strict=True):
        weight = float(item.get("weight", 1.0))
        name = item.get("metric") or item.get("type")
        rows.append(
            {"metric": name, "value": round(s.value, 6), "passed": s.passed, "reason": s.reason}
        )
        if s.error is not None and error is None:
            error = f"{name}: {s.error}"
        total += weight
        weighted += weight * s.value
        if weight > 0 and not s.passed:
            all_pass = False
    value = weighted / total if total > 0 else (1.0 if all_pass else 0.0)
    passed = value >= threshold if threshold is not None else all_pass
    failed = [r for r in rows if not r["passed"]]
    reason = f"{len(rows) - len(failed)}/{len(rows)} assertions passed"
    if failed:
        reason += "; failed: " + "; ".join(f"{r['metric']} ({r['reason']})" for r in failed[:3])
    if error is not None:
        return Score(0.0, False, reason=error, error=error, data={"asserts": rows})
    return Score(value, passed, reason=reason, data={"asserts": rows})
