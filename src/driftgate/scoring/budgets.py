"""Budget scorers: latency and cost of the call that produced the output.

    - {type: latency, max_ms: 2000, weight: 0}     # weight 0: reported, not in the score
    - {type: cost, max_usd: 0.002}

A budget is judged on a completed call only: a provider error has no output and fails
(as an error, also under `not-`). A call whose provider reports no latency or cost cannot
be judged either — a scorer error, as in promptfoo — rather than passing silently.
"""

from __future__ import annotations

from pydantic import Field

from ._common import OutputScorer, verdict
from .base import Score, ScoreContext, ScorerConfig, ScorerFailure, scorer


@scorer("latency")
class Latency(OutputScorer):
    """The call took at most `max_ms` milliseconds."""

    class Config(ScorerConfig):
        max_ms: float = Field(gt=0, description="Latency budget in milliseconds.")

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        if ctx.latency_ms is None:
            raise ScorerFailure("the provider reported no latency for this call")
        ok = ctx.latency_ms <= self.config.max_ms
        sign = "≤" if ok else ">"
        return verdict(ok, f"{ctx.latency_ms:.0f} ms {sign} {self.config.max_ms:g} ms")


@scorer("cost")
class Cost(OutputScorer):
    """The call cost at most `max_usd` US dollars."""

    class Config(ScorerConfig):
        max_usd: float = Field(ge=0, description="Cost budget per call in US dollars.")

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        if ctx.cost_usd is None:
            raise ScorerFailure(
                "the provider reported no cost for this call (local and simulated models have none)"
            )
        ok = ctx.cost_usd <= self.config.max_usd
        sign = "≤" if ok else ">"
        return verdict(ok, f"${ctx.cost_usd:.6g} {sign} ${self.config.max_usd:g}")
