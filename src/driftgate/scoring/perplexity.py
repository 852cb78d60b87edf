"""Perplexity of the answer, from the token log-probabilities the provider returned.

    - {type: perplexity, threshold: 8}          # passes at perplexity ≤ 8
    - {type: perplexity-score, threshold: 0.2}  # passes at 1 / (1 + perplexity) ≥ 0.2

perplexity = exp(-mean(token logprob)) over the answer's tokens — promptfoo's
`perplexity` and `perplexity-score` (same formulas, same pass rules: without a
threshold both pass). A suite with either scorer asks every model for logprobs
(`logprobs: true`, `engine/plan.py`); hosted OpenAI-compatible models and the simulator
return them. A provider that returns none (replay, the local model, many APIs) makes the
case a scorer error that says so, never a pass.
"""

from __future__ import annotations

import math

from ._common import OutputScorer
from .base import Score, ScoreContext, ScorerConfig, ScorerFailure, scorer

NO_LOGPROBS = (
    "this provider returns no token log-probabilities for the answer (perplexity needs "
    "them: use a model whose API returns `logprobs`, e.g. an OpenAI model)"
)


def perplexity_of(token_logprobs: list[float]) -> float:
    """exp of the mean negative log-probability per token."""
    return math.exp(-math.fsum(token_logprobs) / len(token_logprobs))


def _perplexity(ctx: ScoreContext) -> float:
    if ctx.token_logprobs is None:
        raise ScorerFailure(NO_LOGPROBS)
    if not ctx.token_logprobs:
        raise ScorerFailure("the answer has no tokens: its perplexity is undefined")
    return perplexity_of(ctx.token_logprobs)


class _FromLogprobs(OutputScorer):
    """A scorer of the answer's token log-probabilities: the run asks models for them."""

    class Config(ScorerConfig):
        pass

    config: Config

    @property
    def wants_logprobs(self) -> bool:
        return True


@scorer("perplexity")
class Perplexity(_FromLogprobs):
    """The answer's perplexity is at most `threshold` (passes without one)."""

    def check(self, ctx: ScoreContext) -> Score:
        ppl = _perplexity(ctx)
        limit = self.config.threshold
        ok = limit is None or ppl <= limit
        bound = "" if limit is None else (f" ≤ {limit:g}" if ok else f" > {limit:g}")
        return Score(1.0 if ok else 0.0, ok, reason=f"perplexity {ppl:.4g}{bound}")

    def finish(self, score: Score) -> Score:
        return score  # the threshold is an upper bound on perplexity, applied in check


@scorer("perplexity-score")
class PerplexityScore(_FromLogprobs):
    """1 / (1 + perplexity): the score; it passes at `threshold` (always without one)."""

    binary = False

    def check(self, ctx: ScoreContext) -> Score:
        ppl = _perplexity(ctx)
        value = 1.0 / (1.0 + ppl)
        return Score(value, True, reason=f"perplexity {ppl:.4g}, score {value:.4g}")
