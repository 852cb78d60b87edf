"""Is a canary worse than the baseline, or good enough to take more traffic? Is a shadow?

    verdict = check_canary(workspace, spec)        # reads the route's traffic log
    verdict.action      # "rollback" | "wait" | "healthy"
    verdict.findings    # per canary / shadow arm: action, reason, always-valid bounds
    verdict.arms        # per arm: requests, errors, feedback, quality [bounds], per segment

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

`guard` acts on it: a worse canary's weight goes to the baseline (`auto_rollback`), and a
healthy one steps up its `ramp` once it has `min_feedback` new events at its weight; at
the last step a healthy canary is reported `promote` (the alias move is `driftgate loop`'s).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .._model import Strict
from ..artifacts.route import RouteSpec
from ..stats import wilson_interval
from ..stats.sequential import Sums, difference_bound, paired_bound, tuned_for
from ..workspace import Workspace
from .log import Decision, Feedback, traffic_dir
from .tally import Tally, answer_quality

Action = Literal["rollback", "wait", "healthy"]
FindingAction = Literal["rollback", "wait", "healthy", "step", "promote", "worse", "ok"]


class Interval(Strict):
    estimate: float
    lower: float
    upper: float


class SegmentStats(Strict):
    segment: str
    labeled: int
    quality: float | None = None


class ArmStats(Strict):
    arm: str
    shadow: bool = False
    prompt_digest: str | None = Field(None, description="The version the counts are of.")
    requests: int = 0
    errors: int = 0
    feedback: int = 0
    accepted: int = 0
    acceptance: float | None = None
    acceptance_ci: tuple[float, float] | None = None
    labeled: int = Field(0, description="Answers scored against a label from feedback.")
    quality: float | None = Field(None, description="Mean score of the labeled answers.")
    quality_sum: float = 0.0
    pairs: int = Field(0, description="Shadow arms: labeled requests the live arm also answered.")
    pair_sum: float = 0.0
    pair_sq: float = 0.0
    segments: list[SegmentStats] = Field(default_factory=list)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def agreement(self) -> float | None:  # the name shadow reports used before
        return self.quality if self.shadow else None


class CanaryFinding(Strict):
    arm: str
    shadow: bool = False
    action: FindingAction
    reason: str
    delta: float | None = Field(None, description="Quality: arm minus baseline (or live).")
    bounds: Interval | None = Field(None, description="Always-valid bounds of `delta`.")
    labeled: int = 0


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


def arm_stats(
    decisions: list[Decision], feedback: list[Feedback], route_digest: str | None = None
) -> dict[tuple[str, bool], ArmStats]:
    """Per (arm, shadow): requests, errors, feedback and quality joined on request id
    (records of one route version: `route_digest`, by default the first decision's)."""
    digest = route_digest or (decisions[0].route_digest if decisions else "")
    return stats_of(Tally(digest).add(decisions, feedback))


def stats_of(
    tally: Tally, digests: dict[str, str | None] | None = None
) -> dict[tuple[str, bool], ArmStats]:
    """Per (arm, shadow), the counts of the version each arm serves now (`digests`: arm →
    prompt digest; None, or an arm missing from it: every version the log holds)."""
    stats: dict[tuple[str, bool], ArmStats] = {}
    for arm, shadow, digest in tally.keys():
        if digests is not None and arm in digests and digests[arm] != digest:
            continue
        s = stats.setdefault((arm, shadow), ArmStats(arm=arm, shadow=shadow, prompt_digest=digest))
        key = (arm, shadow, digest)
        for name in ("requests", "errors", "feedback", "accepted", "labeled"):
            setattr(s, name, getattr(s, name) + int(tally.get(key, name)))
        s.labeled = s.labeled if shadow else s.labeled + int(tally.get(key, "q_n"))
        s.quality_sum += tally.get(key, "q_sum")
        s.pairs += int(tally.get(key, "pairs"))
        s.pair_sum += tally.get(key, "pair_sum")
        s.pair_sq += tally.get(key, "pair_sq")
        _add_segments(s, tally, key)
    for s in stats.values():
        if s.feedback:
            s.acceptance = s.accepted / s.feedback
            s.acceptance_ci = wilson_interval(s.accepted, s.feedback)
        if s.labeled:
            s.quality = s.quality_sum / s.labeled
    return stats


def _add_segments(s: ArmStats, tally: Tally, key: tuple[str, bool, str]) -> None:
    known = {seg.segment: seg for seg in s.segments}
    for (k, what), n in tally.counts.items():
        if k != key or not what.startswith("q_n|") or not n:
            continue
        name = what[4:]
        seg = known.get(name)
        if seg is None:
            seg = known[name] = SegmentStats(segment=name, labeled=0, quality=0.0)
            s.segments.append(seg)
        total = (seg.quality or 0.0) * seg.labeled + tally.get(k, f"q_sum|{name}")
        seg.labeled += int(n)
        seg.quality = total / seg.labeled
    s.segments.sort(key=lambda seg: seg.segment)


def _sums(s: ArmStats) -> Sums:
    return Sums(s.labeled, s.quality_sum, s.quality_sum)  # scores are 0/1 (or in [0, 1])


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
        s = stats.get((name, True))
        if s is not None:
            findings.append(_judge_shadow(spec, s, r))
    live = [f.action for f in findings if not f.shadow]
    action: Action = "rollback" if "rollback" in live else "wait" if "wait" in live else "healthy"
    order = {a.name: i for i, a in enumerate([*spec.arms, *spec.shadow])}
    arms = sorted(stats.values(), key=lambda s: (s.shadow, order.get(s.arm, len(order))))
    return CanaryVerdict(
        route=spec.name, baseline=baseline, action=action, findings=findings, arms=arms
    )


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
    b = difference_bound(_sums(s), _sums(base), alpha=policy.alpha, r=r)
    assert b is not None
    action: FindingAction = (
        "rollback" if b.upper < 0 else "healthy" if b.lower > -policy.margin else "wait"
    )
    word = {"rollback": "worse", "healthy": "not worse", "wait": "undecided"}[action]
    return CanaryFinding(
        arm=name,
        action=action,
        labeled=s.labeled,
        delta=b.estimate,
        bounds=Interval(estimate=b.estimate, lower=b.lower, upper=b.upper),
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
    b = paired_bound(Sums(s.pairs, s.pair_sum, s.pair_sq), alpha=policy.alpha, r=r)
    assert b is not None
    action: FindingAction = "worse" if b.upper < 0 else "ok" if b.lower > -policy.margin else "wait"
    word = {"worse": "worse", "ok": "not worse", "wait": "undecided"}[action]
    return CanaryFinding(
        arm=s.arm,
        shadow=True,
        action=action,
        labeled=s.pairs,
        delta=b.estimate,
        bounds=Interval(estimate=b.estimate, lower=b.lower, upper=b.upper),
        reason=f"{word} than the live answers on the same {s.pairs} requests "
        f"({b.estimate:+.1%}, always-valid bounds [{b.lower:+.1%}, {b.upper:+.1%}], "
        f"margin {policy.margin:.0%})",
    )


def current_digests(workspace: Workspace, spec: RouteSpec) -> dict[str, str | None]:
    """The prompt digest each arm serves now (None when its ref does not resolve, e.g. a
    `candidate` alias that is not set)."""
    from ..errors import DriftgateError

    out: dict[str, str | None] = {}
    for arm in [*spec.arms, *spec.shadow]:
        try:
            out[arm.name] = workspace.prompt(arm.prompt).digest
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
    tally.update()
    if digests is None:
        digests = current_digests(workspace, spec)
    return judge(spec, stats_of(tally, digests))


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
    """Judge the canaries and act on the policy: give a worse canary's live weight to the
    baseline (`auto_rollback`, or `rollback`), and step a healthy one up its `ramp` once it
    has `min_feedback` new events at its current weight; a healthy canary at the ramp's
    last step is marked `promote`. Returns the verdict and the moves made, as text (an arm
    already at weight 0 is not moved again)."""
    from .state import current_weights, read_state, rollback_weights, set_weights

    verdict = check_canary(workspace, spec, tally=tally, digests=digests)
    policy, baseline = spec.canary, spec.baseline_arm
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
                weights = rollback_weights(workspace, spec, arm, reason=reason).weights
                moved.append(f"rolled back {arm}")
            continue
        if finding.action != "healthy" or weight == 0:
            continue
        state = read_state(workspace, spec)
        fresh = labeled.get(arm, 0) - (state.evidence.get(arm, 0) if state else 0)
        if fresh < policy.min_feedback:
            continue
        step = next((r for r in policy.ramp if r > weight), None)
        room = weights.get(baseline, 0.0)
        if step is None or room < step - weight:
            if policy.ramp and weight >= policy.ramp[-1]:
                finding.action = "promote"
            continue
        new = {arm: step, baseline: room - (step - weight)}
        reason = f"canary ramp: {arm} healthy ({finding.reason}) → {step:g}%"
        weights = set_weights(workspace, spec, new, reason=reason, evidence=labeled).weights
        finding.action = "step"
        moved.append(f"ramped {arm} to {step:g}%")
    return verdict, moved
