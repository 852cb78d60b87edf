"""The gate a learned routing rule passes before it may serve: on held-out traffic (newer
than anything it was trained on), against every single choice and the rule serving now.

Rules, each a `RuleResult` of one `GateVerdict` (so promotion, audit and reports treat it as
any other verdict):

- `non_inferiority` against each single choice: the paired quality difference (rule −
  choice, on the same requests) must rule out a drop larger than what the objective allows
  (`1 − min_quality_vs_best` of that choice's quality) plus the route's `learn.margin`.
- `cost`: the rule's mean cost per request within `max_cost_per_1k`, when set, and below
  the cost of the best single choice (a rule that costs as much routes for nothing).
- `non_inferiority` and `cost` against the current rule, when one serves: not worse by
  more than the margin and not costlier, unless better with confidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stats.paired import non_inferior, paired_difference
from .verdict import GateVerdict, RuleResult

if TYPE_CHECKING:
    from ..routing.evaluate import RuleEvaluation
    from ..routing.objective import Objective

RULE = "rule"
CONFIDENCE = 0.95


def _quality_rule(
    ev: RuleEvaluation, against: str, name: str, allowed: float, *, other: RuleEvaluation | None
) -> RuleResult:
    mine = ev.scores[RULE]
    theirs = (other or ev).scores[RULE if other is not None else against]
    if len(mine) < 2 or len(mine) != len(theirs):
        return RuleResult(
            rule="non_inferiority", name=name, status="fail",
            detail=f"{len(mine)} paired held-out requests: too few to compare",
        )  # fmt: skip
    result = paired_difference(theirs, mine, confidence=CONFIDENCE)
    ok = non_inferior(result, allowed)
    return RuleResult(
        rule="non_inferiority", name=name, status="pass" if ok else "fail",
        observed=result.mean_b, baseline=result.mean_a, threshold=-allowed,
        ci_low=result.ci_low, ci_high=result.ci_high,
        detail=f"rule − {against}: {result.delta:+.3f} on {result.n} held-out requests "
        f"(drop allowed: {allowed:.3f})",
    )  # fmt: skip


def rule_verdict(
    ev: RuleEvaluation,
    objective: Objective,
    *,
    candidate: str,
    margin: float,
    current: RuleEvaluation | None = None,
    current_ref: str | None = None,
) -> GateVerdict:
    """The verdict on a trained rule's held-out evaluation (and the current rule's, on the
    same requests, when one serves)."""
    choices = [c for c in ev.quality if c != RULE]
    rules: list[RuleResult] = []
    for c in choices:
        share = objective.min_quality_vs_best
        allowed = margin + (1 - share) * ev.quality[c] if share is not None else margin
        rules.append(_quality_rule(ev, c, f"quality vs {c}", allowed, other=None))
    best = max(choices, key=lambda c: ev.quality[c])
    # In USD per 1,000 requests: per request, the figures are too small to read.
    cost = ev.cost_per_request[RULE] * 1000
    limit = ev.cost_per_request[best] * 1000
    if objective.max_cost_per_1k is not None:
        limit = min(limit, objective.max_cost_per_1k)
    rules.append(
        RuleResult(
            rule="cost",
            name="USD per 1k requests",
            status="pass" if cost <= limit else "fail",
            observed=cost,
            threshold=limit,
            baseline=ev.cost_per_request[best] * 1000,
            detail=f"at most {best}'s (the best single choice)"
            + (
                f" and {objective.max_cost_per_1k:g} (max_cost_per_1k)"
                if objective.max_cost_per_1k is not None
                else ""
            ),
        )  # fmt: skip
    )
    if current is not None:
        q = _quality_rule(ev, "current rule", "quality vs current rule", margin, other=current)
        rules.append(q)
        better = q.ci_low is not None and q.ci_low > 0
        theirs = current.cost_per_request[RULE] * 1000
        ok = cost <= theirs * 1.05 or better
        rules.append(
            RuleResult(
                rule="cost",
                name="USD per 1k vs current rule",
                status="pass" if ok else "fail",
                observed=cost,
                threshold=theirs * 1.05,
                baseline=theirs,
                detail="not costlier than the rule serving now (5% slack), or better",
            )  # fmt: skip
        )
    return GateVerdict(
        passed=all(r.status != "fail" for r in rules),
        candidate=candidate,
        baseline=current_ref or best,
        policy="route learn: block",
        metric="answer quality against feedback labels",
        confidence=CONFIDENCE,
        n_cases=ev.n,
        on="held-out traffic (newer than the training slice)",
        rules=rules,
    )
