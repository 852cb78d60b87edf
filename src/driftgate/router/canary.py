"""Is a canary worse than the baseline, or good enough to take more traffic? Is a shadow?

    verdict = check_canary(workspace, spec)        # reads the route's traffic log
    verdict.action      # "rollback" | "wait" | "healthy"
    verdict.findings    # per canary / shadow arm: action, reason, always-valid bounds,
                        #   and the same difference per segment (for reading)
    verdict.arms        # per arm: requests, errors, feedback, quality [bounds], per segment
    verdict, moves = guard(workspace, spec)        # judges, then acts on the policy

Quality is each labeled answer's score: the label comes from feedback (an accepted answer
is its own label, an edit's or reject's correction is the label; a reject without one
scores 0) and the route's scorers judge the answer against it. Only answers of the version
each arm serves now count (decisions carry the prompt digest), so a new candidate on an arm
starts its evidence afresh.

Live arms serve different requests, so a canary is compared unpaired with the baseline; a
shadow answers the same requests as the live arm, so it is compared paired (its score minus
the live answer's, per request). Both use always-valid confidence sequences
(`stats.sequential`) because the guard looks after every batch of feedback:

    rollback / worse    upper bound of (arm − baseline) < 0, or error rate over the policy's
    healthy / ok        lower bound > −margin: positive evidence of non-inferiority
    wait                neither yet (or fewer than `min_feedback` labeled answers)

`guard` acts on it and leaves each canary's finding as rollback | step | promote | wait: a
worse canary's weight goes to the baseline (`auto_rollback`), a healthy one steps up its
`ramp` once it has `min_feedback` new labeled answers at its weight, and at the last step
it is reported `promote` (the alias move is `driftgate loop`'s).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .._strict import Strict
from ..artifacts.route import RouteArm, RouteSpec, ShadowArm
from ..stats.sequential import Bound, difference_bound, paired_bound, tuned_for
from ..workspace import Workspace
from .evidence import ArmStats, SegmentStats, arm_stats, pair_sums, scores, stats_of
from .log import pull_traffic, traffic_dir
from .tally import Tally, answer_quality

__all__ = [
    "ArmStats",
    "CanaryFinding",
    "CanaryVerdict",
    "SegmentFinding",
    "SegmentStats",
    "arm_stats",
    "check_canary",
    "check_shadow",
    "guard",
    "judge",
]

Action = Literal["rollback", "wait", "healthy"]
FindingAction = Literal["rollback", "wait", "healthy", "step", "promote", "worse", "ok"]


class Interval(Strict):
    estimate: float
    lower: float
    upper: float


class SegmentFinding(Strict):
    """One segment's difference (arm − baseline, or shadow − live paired), for reading:
    each segment's bounds hold at alpha on their own, not jointly, so moves are made on
    the whole arm's evidence only."""

    segment: str
    labeled: int
    delta: float | None = None
    bounds: Interval | None = None
    worse: bool = Field(False, description="The upper bound is below 0 in this segment.")


class CanaryFinding(Strict):
    arm: str
    shadow: bool = False
    action: FindingAction
    reason: str
    delta: float | None = Field(None, description="Quality: arm minus baseline (or live).")
    bounds: Interval | None = Field(None, description="Always-valid bounds of `delta`.")
    labeled: int = 0
    segments: list[SegmentFinding] = Field(default_factory=list)


class CanaryVerdict(Strict):
    route: str
    baseline: str
    action: Action
    findings: list[CanaryFinding]
    arms: list[ArmStats]

    @property
    def rollback_arms(self) -> list[str]:
        return [f.arm for f in self.findings if f.action == "rollback"]

    def finding(self, arm: str, *, shadow: bool = False) -> CanaryFinding | None:
        return next((f for f in self.findings if f.arm == arm and f.shadow == shadow), None)


def judge(spec: RouteSpec, stats: dict[tuple[str, bool], ArmStats]) -> CanaryVerdict:
    """The verdict for each live arm other than the baseline, and each shadow."""
    policy = spec.canary
    baseline = spec.baseline_arm
    base = stats.get((baseline, False), ArmStats(arm=baseline))
    r = tuned_for(policy.margin, policy.alpha)
    findings: list[CanaryFinding] = []
    for arm in spec.arms:
        if arm.name != baseline:
            s = stats.get((arm.name, False)) or ArmStats(arm=arm.name)
            findings.append(_judge_canary(spec, s, base, r))
    for name in [*[s.name for s in spec.shadow], *[a.name for a in spec.arms]]:
        mirrored = stats.get((name, True))
        if mirrored is not None:
            findings.append(_judge_shadow(spec, mirrored, r))
    names = [*(a.name for a in spec.arms), *(s.name for s in spec.shadow)]
    order = {name: i for i, name in enumerate(names)}
    arms = sorted(stats.values(), key=lambda s: (s.shadow, order.get(s.arm, len(order))))
    verdict = CanaryVerdict(
        route=spec.name, baseline=baseline, action="wait", findings=findings, arms=arms
    )
    verdict.action = _overall(verdict)
    return verdict


def _judge_canary(spec: RouteSpec, s: ArmStats, base: ArmStats, r: float) -> CanaryFinding:
    policy, baseline = spec.canary, spec.baseline_arm
    name = s.arm
    rate = s.error_rate
    if s.requests >= policy.min_requests and rate is not None and rate > policy.max_error_rate:
        return CanaryFinding(
            arm=name,
            action="rollback",
            reason=f"error rate {rate:.1%} over {s.requests} requests exceeds "
            f"{policy.max_error_rate:.0%}",
        )
    if min(s.labeled, base.labeled) < policy.min_feedback:
        return CanaryFinding(
            arm=name,
            action="wait",
            labeled=s.labeled,
            reason=f"{s.labeled} labeled answers on {name}, {base.labeled} on {baseline}; "
            f"{policy.min_feedback} each are needed",
        )
    b = difference_bound(scores(s), scores(base), alpha=policy.alpha, r=r)
    assert b is not None  # both arms have min_feedback >= 1 labeled answers
    action: FindingAction = (
        "rollback" if b.upper < 0 else "healthy" if b.lower > -policy.margin else "wait"
    )
    word = {"rollback": "worse", "healthy": "not worse", "wait": "undecided"}[action]
    return CanaryFinding(
        arm=name,
        action=action,
        labeled=s.labeled,
        delta=b.estimate,
        bounds=_interval(b),
        segments=_canary_segments(s, base, policy.alpha, r),
        reason=f"{word}: quality {s.quality:.1%} vs {base.quality:.1%} on {baseline} "
        f"({b.estimate:+.1%}, always-valid {1 - policy.alpha:.0%} bounds "
        f"[{b.lower:+.1%}, {b.upper:+.1%}], margin {policy.margin:.0%})",
    )


def _judge_shadow(spec: RouteSpec, s: ArmStats, r: float) -> CanaryFinding:
    policy = spec.canary
    if s.pairs < policy.min_feedback:
        return CanaryFinding(
            arm=s.arm,
            shadow=True,
            action="wait",
            labeled=s.pairs,
            reason=f"{s.pairs} labeled requests answered by both; {policy.min_feedback} needed",
        )
    b = paired_bound(pair_sums(s), alpha=policy.alpha, r=r)
    assert b is not None
    action: FindingAction = "worse" if b.upper < 0 else "ok" if b.lower > -policy.margin else "wait"
    word = {"worse": "worse", "ok": "not worse", "wait": "undecided"}[action]
    return CanaryFinding(
        arm=s.arm,
        shadow=True,
        action=action,
        labeled=s.pairs,
        delta=b.estimate,
        bounds=_interval(b),
        segments=_shadow_segments(s, policy.alpha, r),
        reason=f"{word} than the live answers on the same {s.pairs} requests "
        f"({b.estimate:+.1%}, always-valid bounds [{b.lower:+.1%}, {b.upper:+.1%}], "
        f"margin {policy.margin:.0%})",
    )


def _interval(b: Bound) -> Interval:
    return Interval(estimate=b.estimate, lower=b.lower, upper=b.upper)


def _segment_finding(name: str, labeled: int, b: Bound | None) -> SegmentFinding:
    if b is None:
        return SegmentFinding(segment=name, labeled=labeled)
    return SegmentFinding(
        segment=name, labeled=labeled, delta=b.estimate, bounds=_interval(b), worse=b.upper < 0
    )


def _canary_segments(s: ArmStats, base: ArmStats, alpha: float, r: float) -> list[SegmentFinding]:
    """Per segment the canary has labeled answers in: its quality minus the baseline's there."""
    out = []
    for seg in s.segments:
        other = base.segment(seg.segment) or SegmentStats(segment=seg.segment)
        b = difference_bound(scores(seg), scores(other), alpha=alpha, r=r)
        out.append(_segment_finding(seg.segment, seg.labeled, b))
    return out


def _shadow_segments(s: ArmStats, alpha: float, r: float) -> list[SegmentFinding]:
    """Per segment: the shadow's score minus the live answer's on the same requests."""
    return [
        _segment_finding(seg.segment, seg.pairs, paired_bound(pair_sums(seg), alpha=alpha, r=r))
        for seg in s.segments
        if seg.pairs
    ]


def current_digests(workspace: Workspace, spec: RouteSpec) -> dict[str, str | None]:
    """The prompt digest each arm serves now, or for a rule arm its rule's (None when its
    ref does not resolve, e.g. a `candidate` alias that is not set)."""
    from ..errors import DriftgateError
    from ..registry.prompts import find_prompt
    from .rules import resolve_rule

    out: dict[str, str | None] = {}
    arms: list[RouteArm | ShadowArm] = [*spec.arms, *spec.shadow]
    for arm in arms:
        try:
            if isinstance(arm, RouteArm) and arm.rule is not None:
                out[arm.name] = resolve_rule(workspace, spec.name, arm.rule).digest
            else:
                out[arm.name] = find_prompt(workspace, arm.prompt_ref).digest
        except DriftgateError:
            out[arm.name] = None
    return out


def check_canary(
    workspace: Workspace,
    spec: RouteSpec,
    *,
    tally: Tally | None = None,
    digests: dict[str, str | None] | None = None,
) -> CanaryVerdict:
    """Judge the route's canaries and shadows from its traffic log (nothing is moved here).
    A `tally` kept between checks (a serving router's) reads only what was logged since."""
    if tally is None:
        tally = Tally(spec.digest, traffic_dir(workspace, spec.name), quality=answer_quality(spec))
    pull_traffic(workspace, spec.name)  # other machines' traffic, with a shared store
    tally.update()
    if digests is None:
        digests = current_digests(workspace, spec)
    policy = spec.canary
    r = tuned_for(policy.margin, policy.alpha)
    return judge(spec, stats_of(tally, digests, alpha=policy.alpha, r=r))


def check_shadow(workspace: Workspace, spec: RouteSpec, arm: str) -> CanaryFinding:
    """The paired verdict on `arm` mirrored as a shadow: worse, ok (not worse) or wait."""
    found = check_canary(workspace, spec).finding(arm, shadow=True)
    return found or CanaryFinding(
        arm=arm, shadow=True, action="wait", reason="no labeled request mirrored to it yet"
    )


def guard(
    workspace: Workspace,
    spec: RouteSpec,
    *,
    rollback: bool | None = None,
    tally: Tally | None = None,
    digests: dict[str, str | None] | None = None,
) -> tuple[CanaryVerdict, list[str]]:
    """Judge the canaries and act on the policy. Each live canary's finding ends as one of:

        rollback  worse (or over the error rate); its weight went to the baseline
                  (`auto_rollback`, or `rollback=True`) unless it was already at 0
        step      not worse, with `min_feedback` new labeled answers at its weight: the
                  ramp's next step was taken
        promote   not worse on `min_feedback` new labeled answers at the ramp's last step
                  (or at its weight when the policy has no ramp): ready for the alias move
        wait      anything else (undecided, too few fresh answers, at weight 0)

    Returns the verdict and the moves made, as text ("rolled back ARM", "ramped ARM to
    W%"). Shadow findings are left as judged (worse | ok | wait)."""
    from .state import current_weights, read_state, rollback_weights

    verdict = check_canary(workspace, spec, tally=tally, digests=digests)
    policy = spec.canary
    moved: list[str] = []
    weights = current_weights(workspace, spec)
    labeled = {s.arm: s.labeled for s in verdict.arms if not s.shadow}
    for finding in verdict.findings:
        if finding.shadow:
            continue
        arm, weight = finding.arm, weights.get(finding.arm, 0.0)
        if finding.action == "rollback":
            if weight > 0 and (policy.auto_rollback if rollback is None else rollback):
                reason = f"canary rollback: {finding.reason}"
                state = rollback_weights(workspace, spec, arm, reason=reason)
                if state is None:  # another process rolled it back since the read
                    weights = current_weights(workspace, spec)
                    continue
                weights = state.weights
                moved.append(f"rolled back {arm}")
            continue
        if finding.action != "healthy":
            continue
        state = read_state(workspace, spec)
        fresh = labeled.get(arm, 0) - (state.evidence.get(arm, 0) if state else 0)
        weights = _ramp(workspace, spec, finding, weights, fresh, labeled, moved)
    verdict.action = _overall(verdict)
    return verdict, moved


def _ramp(
    workspace: Workspace,
    spec: RouteSpec,
    finding: CanaryFinding,
    weights: dict[str, float],
    fresh: int,
    labeled: dict[str, int],
    moved: list[str],
) -> dict[str, float]:
    """A healthy canary: step it up, mark it ready for promotion, or make it wait."""
    from .state import current_weights, update_weights

    policy, baseline = spec.canary, spec.baseline_arm
    arm, weight = finding.arm, weights.get(finding.arm, 0.0)
    step = next((r for r in policy.ramp if r > weight), None)
    room = weights.get(baseline, 0.0)
    why = None
    if weight == 0:
        why = "at weight 0: nothing to step"
    elif fresh < policy.min_feedback:
        why = f"{fresh} of {policy.min_feedback} new labeled answers at {weight:g}%"
    elif step is not None and room < step - weight:
        why = f"the next step to {step:g}% needs {step - weight:g}% of {baseline}, which has {room:g}%"
    if why is not None:
        finding.action, finding.reason = "wait", f"{finding.reason}; {why}"
        return weights
    if step is None:  # at the ramp's last step (or no ramp): the loop's alias move is next
        finding.action = "promote"
        return weights

    def ramp(live: dict[str, float]) -> dict[str, float] | None:
        # Decided on `weights`; a concurrent move since (another canary rolled back or
        # stepped) means the decision is stale: wait for the next check.
        if live.get(arm, 0.0) != weight or live.get(baseline, 0.0) < step - weight:
            return None
        return {arm: step, baseline: live[baseline] - (step - weight)}

    reason = f"canary ramp: {arm} healthy ({finding.reason}) → {step:g}%"
    state = update_weights(workspace, spec, ramp, reason=reason, evidence=labeled)
    if state is None:
        finding.action, finding.reason = "wait", f"{finding.reason}; weights moved meanwhile"
        return current_weights(workspace, spec)
    weights = state.weights
    finding.action = "step"
    moved.append(f"ramped {arm} to {step:g}%")
    return weights


def _overall(verdict: CanaryVerdict) -> Action:
    live = [f.action for f in verdict.findings if not f.shadow]
    if "rollback" in live:
        return "rollback"
    return "wait" if "wait" in live else "healthy"
