"""LLM-as-judge: a model grades the output against a rubric (`llm-judge`, alias `rubric`).

    - type: llm-judge
      rubric: "The answer names the right city and says nothing false."
      model: openai/gpt-4o-mini        # any model id: litellm, sim/…, local/smollm2-135m
      scale: [1, 5]                    # default [0, 1]
      pass_score: 4                    # on the judge's scale; default the scale's midpoint
      judge_version: "2024-06 rubric v3"

The judge must answer with exactly one JSON object `{"reasoning": str, "score": number}`
(`format: json`, the default; a surrounding markdown code fence is tolerated, nothing
else), or with free reasoning ending in a last line `VERDICT: PASS` / `VERDICT: FAIL`
(`format: verdict`). Anything else — prose around the JSON, extra keys, a score off the
scale, a missing verdict line — is a scorer *error* with the raw answer kept in
`Score.data["raw"]`: an unparseable judgement never passes a case.

Constrained verdicts (`constrained: true`; the default for `local/` judge models, which
do not follow an answer format): the judge is asked for a bare verdict and the verdict
options are scored by likelihood (the provider's label scoring: `CompletionRequest.labels`)
instead of parsed from free text, so every judgement parses. The options are PASS/FAIL
(score = P(PASS) on the 0..1 scale, mapped onto `scale`), or, for an integer scale of 3 to
10 points such as [1, 5], the scale's numbers (score = the expected value). The
probabilities are kept in `Score.data["verdict_probs"]` and shown in the reason. A provider
that returns no probabilities still counts when its text is exactly one option.

The prompt text is versioned: `JUDGE_TEMPLATE_VERSION` and a digest of the templates are
stored with every score, next to the user's `judge_version`, so a changed judge is visible
in comparisons instead of looking like a changed model. The default judge model is the
embedded `local/smollm2-135m` so suites run offline; at 135M parameters it is a weak judge:
its verdicts always parse, but they agree with gold verdicts no better than a coin
(`judge_agreement` and `judge_auc`, bench/local_model.py --only judge) — use a hosted model
for judgements that matter.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import Field, model_validator

from .._digest import digest
from ..errors import JudgeParseError as JudgeParseError  # defined there, re-exported
from ._common import NO_OUTPUT, option_error, render, subject_text
from .base import Score, ScoreContext, Scorer, ScorerConfig, scorer

JUDGE_TEMPLATE_VERSION = "1"

_SYSTEM = {
    "json": (
        "You are a strict evaluator. Grade the RESPONSE against the RUBRIC. "
        "Reply with only a JSON object, no other text: "
        '{{"reasoning": "<one or two sentences>", "score": <number from {lo:g} to {hi:g}>}}. '
        "{lo:g} means the rubric is not met at all, {hi:g} means it is fully met."
    ),
    "verdict": (
        "You are a strict evaluator. Grade the RESPONSE against the RUBRIC. "
        "Explain your reasoning in one or two sentences, then end with a last line that is "
        "exactly `VERDICT: PASS` or `VERDICT: FAIL`."
    ),
}
_USER = "RUBRIC:\n{rubric}\n\n{task}{reference}RESPONSE:\n{output}"
TEMPLATE_DIGEST = digest([JUDGE_TEMPLATE_VERSION, _SYSTEM, _USER])
# Constrained verdicts: a bare answer, scored by likelihood (digest of its own, so the free
# formats' digest, stored with older scores, is unchanged).
_SCORED_SYSTEM = {
    "pass_fail": (
        "You are a strict evaluator. Grade the RESPONSE against the RUBRIC. "
        "Answer with one word: PASS if the response meets the rubric, FAIL if it does not."
    ),
    "scale": (
        "You are a strict evaluator. Grade the RESPONSE against the RUBRIC. "
        "Answer with one number from {lo:d} to {hi:d}: {lo:d} means the rubric is not met "
        "at all, {hi:d} means it is fully met."
    ),
}
SCORED_TEMPLATE_DIGEST = digest([JUDGE_TEMPLATE_VERSION, _SCORED_SYSTEM, _USER])
PASS_FAIL = ["PASS", "FAIL"]

_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n\s*```$", re.DOTALL)
_VERDICT = re.compile(r"^\s*\**\s*VERDICT\s*:\s*(PASS|FAIL)\s*\**\s*$", re.IGNORECASE)


def parse_json_verdict(text: str, lo: float, hi: float) -> tuple[float, str]:
    """(score, reasoning) from a strict `{"reasoning": str, "score": number}` answer."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as exc:
        raise JudgeParseError(f"not a JSON object ({exc.msg} at char {exc.pos})") from None
    if not isinstance(obj, dict):
        raise JudgeParseError(f"expected a JSON object, got {type(obj).__name__}")
    if set(obj) != {"reasoning", "score"}:
        raise JudgeParseError(f"expected exactly the keys reasoning and score, got {sorted(obj)}")
    reasoning, score = obj["reasoning"], obj["score"]
    if not isinstance(reasoning, str):
        raise JudgeParseError("`reasoning` is not a string")
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise JudgeParseError(f"`score` is not a number: {score!r}")
    if not lo <= score <= hi:
        raise JudgeParseError(f"`score` {score:g} is outside the scale [{lo:g}, {hi:g}]")
    return float(score), reasoning


def parse_pass_fail(text: str) -> tuple[bool, str]:
    """(passed, reasoning) from an answer whose last non-empty line is `VERDICT: PASS|FAIL`."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        raise JudgeParseError("empty answer")
    m = _VERDICT.match(lines[-1])
    if not m:
        raise JudgeParseError("the last line is not `VERDICT: PASS` or `VERDICT: FAIL`")
    return m.group(1).upper() == "PASS", "\n".join(lines[:-1]).strip()


def verdict_probs(
    options: list[str], probs: dict[str, float] | None, text: str
) -> dict[str, float]:
    """Probabilities over the verdict options: the provider's label probabilities, or,
    from a provider that gives none, certainty on the option its text names exactly."""
    if probs:
        by_lower = {k.strip().lower(): v for k, v in probs.items()}
        got = {o: float(by_lower.get(o.lower(), 0.0)) for o in options}
        total = sum(got.values())
        if total > 0:
            return {o: p / total for o, p in got.items()}
    answer = text.strip().strip(".*`'\"").strip().lower()
    for o in options:
        if answer == o.lower():
            return {x: 1.0 if x == o else 0.0 for x in options}
    raise JudgeParseError(f"the answer is none of {', '.join(options)}")


@scorer("llm-judge")
class LLMJudge(Scorer):
    """A model grades the output against `rubric`; see the module docstring for formats."""

    class Config(ScorerConfig):
        templated = frozenset({"value", "rubric"})  # the rubric may name the case's variables
        rubric: str = Field(min_length=1, description="What a good response does.")
        model: str = Field("local/smollm2-135m", description="Judge model id.")
        format: Literal["json", "verdict"] = Field("json", description="Answer format required.")
        scale: tuple[float, float] = Field((0.0, 1.0), description="[lowest, highest] score.")
        pass_score: float | None = Field(
            None, description="Passes at score ≥ this; default midpoint."
        )
        judge_version: str | None = Field(None, description="Your label for this judge; stored.")
        include_input: bool = Field(True, description="Show the judge the case's variables.")
        max_tokens: int = Field(256, ge=16, le=8192)
        max_retries: int = Field(2, ge=0, le=10)
        timeout_s: float = Field(60.0, gt=0)
        constrained: bool | None = Field(
            None,
            description="Score the verdict options by likelihood instead of parsing a free "
            "answer; default: on for local/ judge models, off for others.",
        )

        @model_validator(mode="after")
        def _check(self) -> LLMJudge.Config:
            lo, hi = self.scale
            if self.threshold is not None:
                raise option_error(
                    "llm-judge passes at `pass_score` (on its scale); drop `threshold`"
                )
            if not lo < hi:
                raise option_error(
                    f"scale must be [low, high] with low < high, got [{lo:g}, {hi:g}]"
                )
            if self.pass_score is not None and not lo <= self.pass_score <= hi:
                raise option_error(
                    f"pass_score {self.pass_score:g} is outside the scale [{lo:g}, {hi:g}]"
                )
            return self

    config: Config

    def __init__(self, config: ScorerConfig) -> None:
        super().__init__(config)
        self._provider: Any = None

    @property
    def pass_score(self) -> float:
        lo, hi = self.config.scale
        return self.config.pass_score if self.config.pass_score is not None else (lo + hi) / 2

    @property
    def constrained(self) -> bool:
        if self.config.constrained is not None:
            return self.config.constrained
        return self.config.model.startswith("local/")

    def verdict_options(self) -> list[str]:
        """The answers a constrained judge chooses from: the scale's numbers for an integer
        scale of 3 to 10 points, PASS/FAIL otherwise."""
        lo, hi = self.config.scale
        if self.config.format == "json" and lo.is_integer() and hi.is_integer():
            if 3 <= hi - lo + 1 <= 10:
                return [str(n) for n in range(int(lo), int(hi) + 1)]
        return list(PASS_FAIL)

    def _system(self) -> str:
        lo, hi = self.config.scale
        if not self.constrained:
            return _SYSTEM[self.config.format].format(lo=lo, hi=hi)
        if self.verdict_options() == PASS_FAIL:
            return _SCORED_SYSTEM["pass_fail"]
        return _SCORED_SYSTEM["scale"].format(lo=int(lo), hi=int(hi))

    def messages(self, ctx: ScoreContext) -> list[dict[str, str]]:
        """The judge prompt for one case."""
        task = ""
        if self.config.include_input and ctx.vars:
            task = (
                "TASK INPUT:\n"
                + json.dumps(ctx.vars, ensure_ascii=False, indent=1, default=str)
                + "\n\n"
            )
        ref = ctx.reference if ctx.reference is not None else ctx.expected
        reference = ""
        if ref is not None:
            ref_text = (
                ref if isinstance(ref, str) else json.dumps(ref, ensure_ascii=False, default=str)
            )
            reference = f"REFERENCE ANSWER:\n{ref_text}\n\n"
        user = _USER.format(
            rubric=render(
                self.config.rubric, ctx, where=f"scorer {self.config.type!r} option `rubric`"
            ),
            task=task,
            reference=reference,
            output=subject_text(ctx),
        )
        return [{"role": "system", "content": self._system()}, {"role": "user", "content": user}]

    def _get_provider(self) -> Any:
        if self._provider is None:
            from ..providers import ModelConfig, create_provider

            self._provider = create_provider(
                ModelConfig(
                    id=self.config.model,
                    timeout_s=self.config.timeout_s,
                    max_retries=self.config.max_retries,
                )
            )
        return self._provider

    async def ascore(self, ctx: ScoreContext) -> Score:
        data: dict[str, Any] = {
            "judge_model": self.config.model,
            "judge_version": self.config.judge_version,
            "template_version": JUDGE_TEMPLATE_VERSION,
            "template_digest": SCORED_TEMPLATE_DIGEST if self.constrained else TEMPLATE_DIGEST,
        }
        if ctx.output is None and ctx.parsed is None:
            return Score(0.0, False, reason=NO_OUTPUT, error=NO_OUTPUT, data=data)
        from ..providers import CompletionRequest, ProviderError
        from ..providers.retry import complete_with_retries

        constrained = self.constrained
        request = CompletionRequest(
            model=self.config.model,
            messages=self.messages(ctx),
            params={"temperature": 0, "max_tokens": 8 if constrained else self.config.max_tokens},
            timeout_s=self.config.timeout_s,
            labels=self.verdict_options() if constrained else None,
        )
        try:
            completion, attempts = await complete_with_retries(
                self._get_provider(), request, max_retries=self.config.max_retries
            )
        except ProviderError as exc:
            msg = f"judge call failed: {exc}"
            return Score(0.0, False, reason=msg, error=msg, data=data)
        data["attempts"] = attempts
        if completion.cost_usd is not None:
            data["judge_cost_usd"] = completion.cost_usd
        if constrained:
            return self._grade_scored(completion.text or "", completion.label_probs, data)
        return self._grade(completion.text or "", data)

    def _grade_scored(
        self, text: str, probs: dict[str, float] | None, data: dict[str, Any]
    ) -> Score:
        """The score from the verdict options' probabilities (constrained verdicts)."""
        options = self.verdict_options()
        try:
            probs = verdict_probs(options, probs, text)
        except JudgeParseError as exc:
            data["raw"] = text
            msg = f"unparseable judge answer: {exc}"
            return Score(0.0, False, reason=msg, error=msg, data=data)
        lo, hi = self.config.scale
        shown = " ".join(f"{k}={v:.2f}" for k, v in probs.items())
        if options == PASS_FAIL:
            value = probs["PASS"]
            raw_score = lo + value * (hi - lo)
            what = f"P(PASS) {value:.2f}"
        else:
            raw_score = sum(int(k) * p for k, p in probs.items())
            value = (raw_score - lo) / (hi - lo)
            what = f"expected score {raw_score:.2f}"
        passed = raw_score >= self.pass_score
        data["verdict_probs"] = probs
        data["judge_score"] = raw_score
        sign = "≥" if passed else "<"
        return Score(
            value, passed, reason=f"judge: {what} {sign} {self.pass_score:g} ({shown})", data=data
        )

    def _grade(self, text: str, data: dict[str, Any]) -> Score:
        lo, hi = self.config.scale
        try:
            if self.config.format == "json":
                raw_score, reasoning = parse_json_verdict(text, lo, hi)
                value = (raw_score - lo) / (hi - lo)
                passed = raw_score >= self.pass_score
                data["judge_score"] = raw_score
                verdict = f"score {raw_score:g} {'≥' if passed else '<'} {self.pass_score:g}"
            else:
                passed, reasoning = parse_pass_fail(text)
                value = 1.0 if passed else 0.0
                verdict = "PASS" if passed else "FAIL"
        except JudgeParseError as exc:
            data["raw"] = text
            msg = f"unparseable judge answer: {exc}"
            return Score(0.0, False, reason=msg, error=msg, data=data)
        data["reasoning"] = reasoning
        return Score(value, passed, reason=f"judge: {verdict}", data=data)


@scorer("rubric")
class Rubric(LLMJudge):
    """`rubric`: another name for `llm-judge`."""
