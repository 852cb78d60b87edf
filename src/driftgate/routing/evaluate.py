"""A rule measured on labeled requests every choice answered: its quality and cost against
each single choice (paired, request by request), overall and per segment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from .._strict import Strict
from .labeled import as_features

if TYPE_CHECKING:
    import numpy as np

    from ..embedding import Embedder
    from .labeled import LabeledRequest
    from .rule import RoutingRule

RULE = "rule"


class RuleEvaluation(Strict):
    n: int
    quality: dict[str, float] = Field(description="Mean score: `rule` and each choice.")
    cost_per_request: dict[str, float] = Field(description="Mean USD: `rule` and each choice.")
    choice_share: dict[str, float] = Field(description="How often the rule picked each choice.")
    per_segment: dict[str, dict[str, Any]] = Field(default_factory=dict)
    quality_vs_best: float = Field(description="The rule's quality ÷ the best choice's.")
    cost_vs_best: float = Field(description="The rule's cost ÷ the best choice's.")
    best: str = Field(description="The single choice with the highest quality.")
    scores: dict[str, list[float]] = Field(
        default_factory=dict, description="Per request, in order: the paired scores."
    )
    costs: dict[str, list[float]] = Field(default_factory=dict)

    def paired_scores(self, other: str) -> tuple[list[float], list[float]]:
        """(the rule's, `other`'s) scores on the same requests, in order: what a paired
        test compares. `other` is a choice's name."""
        if other not in self.scores or other == RULE:
            raise KeyError(f"no scores of {other!r}; choices: {sorted(set(self.scores) - {RULE})}")
        return list(self.scores[RULE]), list(self.scores[other])


def choice_cost(r: LabeledRequest, choice: str, fallback: dict[str, float]) -> float:
    """A choice's cost on a request; a cost not recorded is the choice's mean (not 0)."""
    return r.cost[choice] if choice in r.cost else fallback.get(choice, 0.0)


def evaluate_picks(
    picks: Sequence[str], examples: Sequence[LabeledRequest], choices: Sequence[str],
    mean_costs: dict[str, float],
) -> RuleEvaluation:  # fmt: skip
    """The figures of a sequence of picks (one per example) against each single choice."""
    n = len(examples)
    scores: dict[str, list[float]] = {c: [r.quality[c] for r in examples] for c in choices}
    costs = {c: [choice_cost(r, c, mean_costs) for r in examples] for c in choices}
    scores[RULE] = [r.quality[p] for r, p in zip(examples, picks, strict=True)]
    costs[RULE] = [choice_cost(r, p, mean_costs) for r, p in zip(examples, picks, strict=True)]

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    quality = {k: mean(v) for k, v in scores.items()}
    cost = {k: mean(v) for k, v in costs.items()}
    best = max(choices, key=lambda c: (quality[c], -cost[c]))
    per_segment: dict[str, dict[str, Any]] = {}
    for seg in sorted({r.segment or "(none)" for r in examples}):
        idx = [i for i, r in enumerate(examples) if (r.segment or "(none)") == seg]
        per_segment[seg] = {
            "n": len(idx),
            "choice_share": {c: sum(picks[i] == c for i in idx) / len(idx) for c in choices},
            "quality": {k: mean([v[i] for i in idx]) for k, v in scores.items()},
        }
    return RuleEvaluation(
        n=n, quality=quality, cost_per_request=cost,
        choice_share={c: (sum(p == c for p in picks) / n if n else 0.0) for c in choices},
        per_segment=per_segment,
        quality_vs_best=quality[RULE] / quality[best] if quality[best] else 1.0,
        cost_vs_best=cost[RULE] / cost[best] if cost[best] else 1.0,
        best=best, scores=scores, costs=costs,
    )  # fmt: skip


def evaluate_rule(
    rule: RoutingRule, examples: Sequence[LabeledRequest], *, embedder: Embedder | None = None,
    embeddings: np.ndarray | None = None,
) -> RuleEvaluation:  # fmt: skip
    """The rule on those of `examples` every choice answered (the paired ones: a pick's
    counterfactuals must be known), against each choice. `embeddings`, when given, are
    rows of those paired examples, in order."""
    paired = [r for r in examples if all(c in r.quality for c in rule.choices)]
    picks = rule.choose(as_features(paired), embedder=embedder, embeddings=embeddings)
    return evaluate_picks(picks, paired, rule.choices, rule.costs)
