"""The review queue: live answers worth a person's look, most useful first.

    queue = review_queue(ws, "categorize")
    queue.items[0].reason, queue.items[0].why, queue.needs

An answer is queued for one of these reasons (the first that applies, in this order):

    rejected        the user rejected it without saying what was right
    edited          the user corrected it (the correction is offered as the label)
    disagreement    a shadow arm answered the same request differently
    low-confidence  the model's confidence was below `review.low_confidence`
    drifted         its input is farther from every golden case than nearly all golden
                    cases are from each other (`review.drift_quantile`)

An answer a person has already reviewed (a feedback event with a `reviewer`) leaves the
queue for good; one they skipped goes to its end. `needs` says, per segment, how many
more golden cases the next retrain's gate needs to detect a drop of `review.detect_delta`
(paired power at 80%, `compare.power.golden_set_power`), counting the golden sets the
route is evaluated on and the reviewed set.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from .._strict import Strict
from ..router.log import Decision, Feedback, read_decisions, read_feedback
from .store import golden_cases, reviewed_rows, skipped_ids

if TYPE_CHECKING:
    from ..artifacts.route import RouteSpec
    from ..workspace import Workspace

Reason = Literal["rejected", "edited", "disagreement", "low-confidence", "drifted"]
REASONS: tuple[Reason, ...] = ("rejected", "edited", "disagreement", "low-confidence", "drifted")
MAX_RECENT = 5000  # live answers considered: the most recent ones


class ReviewItem(Strict):
    """One logged answer to look at."""

    id: str = Field(description="ROUTE/REQUEST_ID: what a decision names.")
    route: str
    request_id: str
    reason: Reason
    why: str = Field(description="The reason in a sentence.")
    ts: float
    arm: str
    prompt: str
    model: str
    segment: str | None = None
    vars: dict[str, Any]
    output: str | None = None
    answer: Any = Field(None, description="The parsed answer (a label), when it parsed.")
    shadows: dict[str, Any] = Field(
        default_factory=dict, description="Shadow arm → its parsed answer, for this request."
    )
    confidence: float | None = None
    suggestion: Any = Field(None, description="The user's correction, when they edited.")
    skipped: bool = False


class SegmentNeed(Strict):
    segment: str
    golden: int = Field(description="Golden cases of this segment (evaluation and reviewed).")
    needed: int = Field(description="Golden cases the gate needs to detect the drop.")
    accuracy: float = Field(description="Share of this segment's judged answers accepted.")

    @property
    def missing(self) -> int:
        return max(0, self.needed - self.golden)


class ReviewQueue(Strict):
    route: str
    labels: list[str] = Field(default_factory=list, description="The prompt's output labels.")
    items: list[ReviewItem] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict, description="Queued items per reason.")
    reviewed: int = Field(0, description="Answers of this route reviewed so far.")
    needs: list[SegmentNeed] = Field(default_factory=list)


def review_queue(ws: Workspace, route: str, *, limit: int | None = None) -> ReviewQueue:
    """The route's review queue (module doc), best first; `limit` items at most."""
    from ..router.router import load_route_ref

    spec = load_route_ref(ws, route)
    settings = ws.settings.review
    decisions = read_decisions(ws, route)
    live = sorted((d for d in decisions if not d.shadow), key=lambda d: d.ts)[-MAX_RECENT:]
    shadows: dict[str, dict[str, Any]] = {}
    for d in decisions:
        if d.shadow and d.error is None:
            shadows.setdefault(d.id, {})[d.arm] = d.parsed
    feedback = read_feedback(ws, route)
    reviewed = {fb.request_id for fb in feedback if fb.reviewer}
    users = _latest_user_feedback(feedback)
    golden = golden_cases(ws, spec)
    far = _drifted(live, golden, settings.drift_quantile)
    skipped = skipped_ids(ws)
    items: list[ReviewItem] = []
    for d in live:
        if d.id in reviewed or d.error is not None:
            continue
        found = _reason(d, users.get(d.id), shadows.get(d.id, {}), far, settings.low_confidence)
        if found is None:
            continue
        reason, why, suggestion = found
        items.append(
            ReviewItem(
                id=f"{route}/{d.id}", route=route, request_id=d.id, reason=reason, why=why,
                ts=d.ts, arm=d.arm, prompt=d.prompt, model=d.model, segment=d.segment,
                vars=d.vars, output=d.output, answer=d.parsed, shadows=shadows.get(d.id, {}),
                confidence=d.confidence, suggestion=suggestion,
                skipped=f"{route}/{d.id}" in skipped,
            )
        )  # fmt: skip
    # Most useful first: by reason, then newest; skipped ones last.
    items.sort(key=lambda i: (i.skipped, REASONS.index(i.reason), -i.ts))
    counts: dict[str, int] = {r: sum(1 for i in items if i.reason == r) for r in REASONS}
    return ReviewQueue(
        route=route,
        labels=_labels(ws, spec),
        items=items[:limit] if limit is not None else items,
        counts=counts,
        reviewed=len(reviewed),
        needs=_needs(ws, spec, live, users, golden),
    )


def _latest_user_feedback(feedback: Iterable[Feedback]) -> dict[str, Feedback]:
    """The latest word of the users (not reviewers) on each request."""
    latest: dict[str, Feedback] = {}
    for fb in feedback:
        if fb.reviewer:
            continue
        known = latest.get(fb.request_id)
        if known is None or fb.ts >= known.ts:
            latest[fb.request_id] = fb
    return latest


def _reason(
    d: Decision,
    fb: Feedback | None,
    shadows: dict[str, Any],
    far: set[str],
    low: float,
) -> tuple[Reason, str, Any] | None:
    if fb is not None and fb.verdict == "reject" and fb.correction is None:
        return "rejected", "the user rejected this answer without saying what was right", None
    if fb is not None and fb.correction is not None:
        return "edited", f"the user corrected it to {_show(fb.correction)}", fb.correction
    differ = {arm: a for arm, a in shadows.items() if a != d.parsed}
    if differ:
        arm, other = next(iter(differ.items()))
        return "disagreement", f"shadow {arm} answered {_show(other)}", None
    if d.confidence is not None and d.confidence < low:
        return "low-confidence", f"confidence {d.confidence:.2f} is below {low:.2f}", None
    if d.id in far:
        return "drifted", "its input is far from every golden case", None
    return None


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def _text(variables: dict[str, Any], keys: set[str]) -> str:
    return " ".join(str(variables[k]) for k in sorted(keys) if isinstance(variables.get(k), str))


def _drifted(live: Sequence[Decision], golden: list[dict[str, Any]], quantile: float) -> set[str]:
    """Ids of live requests whose nearest golden case is farther than the `quantile` of the
    golden cases' own nearest-neighbour similarities (character TF-IDF cosine over the text
    variables the golden cases have: no model to load, and what `drift traffic` falls back
    to)."""
    if len(golden) < 10 or not live:
        return set()
    import numpy as np

    from ..drift.vectorize import tfidf

    keys = {k for c in golden for k in (c.get("vars") or {})}
    texts = [_text(c.get("vars") or {}, keys) for c in golden]
    texts += [_text(d.vars, keys) for d in live]
    x = tfidf(texts)
    g, t = x[: len(golden)], x[len(golden) :]
    within = (g @ g.T).toarray()
    np.fill_diagonal(within, -1.0)
    threshold = float(np.quantile(within.max(axis=1), quantile))
    nearest = np.asarray((t @ g.T).max(axis=1).toarray()).ravel()
    return {d.id for d, s in zip(live, nearest, strict=True) if s < threshold}


def _labels(ws: Workspace, spec: RouteSpec) -> list[str]:
    """The output labels of the prompt the route serves (its first arm that resolves)."""
    from ..registry.prompts import find_prompt

    for ref in (r for arm in spec.arms for r in spec.prompts_of(arm)):
        try:
            return list(find_prompt(ws, ref).output.labels or [])
        except Exception:  # noqa: BLE001 - an arm whose alias is unset yet: try the next
            continue
    return []


def _needs(
    ws: Workspace,
    spec: RouteSpec,
    live: Sequence[Decision],
    users: dict[str, Feedback],
    golden: list[dict[str, Any]],
) -> list[SegmentNeed]:
    from ..compare.power import golden_set_power

    delta = ws.settings.review.detect_delta
    rows = golden + reviewed_rows(ws)
    out = []
    for segment in sorted({d.segment for d in live if d.segment}):
        judged = [users[d.id] for d in live if d.segment == segment and d.id in users]
        accepted = sum(1 for fb in judged if fb.verdict == "accept")
        # Too little feedback to tell: plan for a model right 80% of the time.
        accuracy = accepted / len(judged) if len(judged) >= 20 else 0.8
        baseline = min(max(accuracy, delta + 0.01), 0.99)
        plan = golden_set_power(baseline, delta=delta)
        have = sum(1 for c in rows if _in_segment(c, spec, segment))
        out.append(
            SegmentNeed(
                segment=segment,
                golden=have,
                needed=int(plan.cases_needed or 0),
                accuracy=round(accuracy, 4),
            )
        )
    return out


def _in_segment(case: dict[str, Any], spec: RouteSpec, segment: str) -> bool:
    if case.get("segment") == segment:
        return True
    value = (case.get("vars") or {}).get(spec.segment_by) if spec.segment_by else None
    return value is not None and str(value) == segment
