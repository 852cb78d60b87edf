"""`always-pass-plugin`: passes every answer that is not empty (registered on import)."""

from __future__ import annotations

from driftgate.scoring.base import Score, ScoreContext, Scorer, scorer


@scorer("always-pass-plugin")
class AlwaysPass(Scorer):
    def score(self, ctx: ScoreContext) -> Score:
        ok = bool(ctx.output)
        return Score(1.0 if ok else 0.0, ok, reason="plugin")
