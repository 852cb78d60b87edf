"""A route's traffic as training data for its rule: one `LabeledRequest` per request that
feedback labeled, with every answer the request got scored against that label.

A request is answered by its live arm (or, on a rule arm, by the arm the rule picked) and by
each shadow it was mirrored to: the same input, several models' answers, one label. That is
paired, counterfactual data: for each choice a rule may make, what it would have scored and
cost. Answers that errored score 0; their cost is what they were billed (often nothing).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ..workspace import Workspace
from .log import Decision, label_of, latest_feedback, read_decisions
from .tally import answer_quality

if TYPE_CHECKING:
    from ..artifacts.route import RouteSpec
    from ..routing.labeled import LabeledRequest


def labeled_requests(
    ws: Workspace, spec: RouteSpec, *, since: float | None = None
) -> list[LabeledRequest]:
    """Every labeled request of the route (after `since`), oldest first, with the score and
    cost of each arm's answer to it, keyed by the arm that produced it."""
    from ..routing.labeled import LabeledRequest

    quality = answer_quality(spec)
    answers: dict[str, list[Decision]] = defaultdict(list)
    for d in read_decisions(ws, spec.name):
        if since is None or d.ts >= since:
            answers[d.id].append(d)
    out: list[LabeledRequest] = []
    for request_id, fb in latest_feedback(ws, spec.name).items():
        got = answers.get(request_id)
        live = next((d for d in got or () if not d.shadow), None)
        if live is None:
            continue
        label = label_of(fb, live.parsed, live.error is None)
        if label is None:
            continue
        scores: dict[str, float] = {}
        costs: dict[str, float] = {}
        for d in got or ():
            name = d.choice or d.arm
            scores[name] = 0.0 if d.error else quality(d.parsed, d.output, label)
            if d.cost_usd is not None:
                costs[name] = d.cost_usd
        out.append(
            LabeledRequest(
                id=request_id,
                ts=live.ts,
                vars=live.vars,
                segment=live.segment,
                quality=scores,
                cost=costs,
            )  # fmt: skip
        )
    out.sort(key=lambda r: (r.ts, r.id))
    return out


def coverage(requests: list[LabeledRequest], choices: list[str]) -> dict[str, Any]:
    """How many labeled requests each choice answered, and how many every choice did (the
    paired set a rule is evaluated on)."""
    per = {c: sum(c in r.quality for r in requests) for c in choices}
    both = sum(all(c in r.quality for c in choices) for r in requests)
    return {"labeled": len(requests), "per_choice": per, "paired": both}
