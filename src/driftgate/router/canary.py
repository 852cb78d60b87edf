"""Is a canary worse than the baseline? Acceptance from user feedback, errors from the log.

    verdict = check_canary(workspace, "categorize")     # reads the route's traffic log
    verdict.action      # "rollback" | "wait" | "healthy"
    verdict.arms        # per arm: requests, errors, feedback, acceptance [95% CI]

Each live arm's acceptance rate (accepted / feedback events on its answers; an edit or a
reject is not an acceptance) is compared with the baseline arm's. The arms serve different
requests, so the comparison is unpaired: a one-sided two-proportion z-test on
Agresti–Caffo adjusted rates (one success and one failure added to each arm, which keeps
the test honest at the small counts a fresh canary has). A canary is rolled back when it
is accepted less than the baseline by more than the policy's margin at the policy's alpha,
or when its provider error rate exceeds the policy's maximum. Before `min_feedback`
events (or `min_requests` requests, for errors) the verdict is "wait".

Shadow arms are scored too, against labels made of feedback: an accepted live answer is
its own label; an edit's or reject's correction is the label. They are reported, never
rolled back (they serve nobody).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from .._model import Strict
from ..artifacts.route import RouteSpec
from ..stats import wilson_interval
from ..workspace import Workspace
from .log import Decision, Feedback, traffic_dir
from .tally import Tally

Action = Literal["rollback", "wait", "healthy"]


class ArmStats(Strict):
    arm: str
    shadow: bool = False
    requests: int = 0
    errors: int = 0
    feedback: int = 0
    accepted: int = 0
    acceptance: float | None = None
    acceptance_ci: tuple[float, float] | None = None
    labeled: int = Field(0, description="Shadow arms: answers with a label from feedback.")
    agreement: float | None = Field(None, description="Shadow arms: share matching the label.")

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


class CanaryFinding(Strict):
    arm: str
    action: Action
    reason: str
    delta: float | None = Field(None, description="Acceptance: canary minus baseline.")
    p_value: float | None = None


class CanaryVerdict(Strict):
    route: str
    baseline: str
    action: Action
    findings: list[CanaryFinding]
    arms: list[ArmStats]

    @property
    def rollback_arms(self) -> list[str]:
        return [f.arm for f in self.findings if f.action == "rollback"]


def arm_stats(
    decisions: list[Decision], feedback: list[Feedback], route_digest: str | None = None
) -> dict[tuple[str, bool], ArmStats]:
    """Per (arm, shadow): requests, errors, and feedback joined on request id (records of
    one route version: `route_digest`, by default the first decision's)."""
    digest = route_digest or (decisions[0].route_digest if decisions else "")
    return stats_of(Tally(digest).add(decisions, feedback))


def stats_of(tally: Tally) -> dict[tuple[str, bool], ArmStats]:
    stats: dict[tuple[str, bool], ArmStats] = {}
    for key in tally.keys():
        arm, shadow = key
        s = ArmStats(
            arm=arm,
            shadow=shadow,
            requests=tally.get(key, "requests"),
            errors=tally.get(key, "errors"),
            feedback=tally.get(key, "feedback"),
            accepted=tally.get(key, "accepted"),
            labeled=tally.get(key, "labeled"),
        )
        if s.feedback:
            s.acceptance = s.accepted / s.feedback
            s.acceptance_ci = wilson_interval(s.accepted, s.feedback)
        if s.labeled:
            s.agreement = tally.get(key, "agreed") / s.labeled
        stats[key] = s
    return stats


def same_answer(parsed: object, label: object) -> bool:
    """Equal answers; text compared without case or surrounding spaces."""
    if isinstance(parsed, str) and isinstance(label, str):
        return parsed.strip().lower() == label.strip().lower()
    return parsed == label


def worse_p_value(base_ok: int, base_n: int, can_ok: int, can_n: int, margin: float) -> float:
    """One-sided p of "canary acceptance < baseline acceptance − margin" being due to chance
    (small = the canary is worse). Agresti–Caffo adjusted two-proportion z-test."""
    pb = (base_ok + 1) / (base_n + 2)
    pc = (can_ok + 1) / (can_n + 2)
    se = math.sqrt(pb * (1 - pb) / (base_n + 2) + pc * (1 - pc) / (can_n + 2))
    z = (pc - pb + margin) / se
    return 0.5 * math.erfc(-z / math.sqrt(2))  # Φ(z)


def judge(spec: RouteSpec, stats: dict[tuple[str, bool], ArmStats]) -> CanaryVerdict:
    """The verdict for each live arm other than the baseline, from `arm_stats`."""
    policy = spec.canary
    baseline = spec.baseline_arm
    base = stats.get((baseline, False), ArmStats(arm=baseline))
    findings: list[CanaryFinding] = []
    for arm in spec.arms:
        if arm.name == baseline:
            continue
        s = stats.get((arm.name, False), ArmStats(arm=arm.name))
        rate = s.error_rate
        if s.requests >= policy.min_requests and rate is not None and rate > policy.max_error_rate:
            findings.append(
                CanaryFinding(
                    arm=arm.name,
                    action="rollback",
                    reason=f"error rate {rate:.1%} over {s.requests} requests exceeds "
                    f"{policy.max_error_rate:.0%}",
                )
            )
            continue
        if min(s.feedback, base.feedback) < policy.min_feedback:
            findings.append(
                CanaryFinding(
                    arm=arm.name,
                    action="wait",
                    reason=f"{s.feedback} feedback events on {arm.name}, {base.feedback} on "
                    f"{baseline}; {policy.min_feedback} each are needed",
                )
            )
            continue
        p = worse_p_value(base.accepted, base.feedback, s.accepted, s.feedback, policy.margin)
        delta = (s.acceptance or 0.0) - (base.acceptance or 0.0)
        worse = p < policy.alpha
        findings.append(
            CanaryFinding(
                arm=arm.name,
                action="rollback" if worse else "healthy",
                reason=(
                    f"accepted {s.acceptance:.1%} vs {base.acceptance:.1%} on {baseline} "
                    f"({delta:+.1%}, one-sided p={p:.3g}"
                    + (f", margin {policy.margin:.0%}" if policy.margin else "")
                    + ")"
                ),
                delta=delta,
                p_value=p,
            )
        )
    actions = [f.action for f in findings]
    action: Action = (
        "rollback" if "rollback" in actions else "wait" if "wait" in actions else "healthy"
    )
    order = {a.name: i for i, a in enumerate([*spec.arms, *spec.shadow])}
    arms = sorted(stats.values(), key=lambda s: (s.shadow, order.get(s.arm, len(order))))
    return CanaryVerdict(
        route=spec.name, baseline=baseline, action=action, findings=findings, arms=arms
    )


def check_canary(
    workspace: Workspace, spec: RouteSpec, *, tally: Tally | None = None
) -> CanaryVerdict:
    """Judge the route's canaries from its traffic log (nothing is moved here). A `tally`
    kept between checks (a serving router's) reads only what was logged since the last."""
    if tally is None:
        tally = Tally(spec.digest, traffic_dir(workspace, spec.name))
    tally.update()
    return judge(spec, stats_of(tally))


def guard(
    workspace: Workspace,
    spec: RouteSpec,
    *,
    rollback: bool | None = None,
    tally: Tally | None = None,
) -> tuple[CanaryVerdict, list[str]]:
    """Judge the canaries and act on the policy: give a worse canary's live weight to the
    baseline (`auto_rollback`, or `rollback`), and step a healthy one up its `ramp` once it
    has `min_feedback` new events at its current weight. Returns the verdict and the moves
    made, as text (an arm already at weight 0 is not moved again)."""
    from .state import current_weights, read_state, rollback_weights, set_weights

    verdict = check_canary(workspace, spec, tally=tally)
    policy, baseline = spec.canary, spec.baseline_arm
    moved: list[str] = []
    weights = current_weights(workspace, spec)
    feedback = {s.arm: s.feedback for s in verdict.arms if not s.shadow}
    for finding in verdict.findings:
        arm, weight = finding.arm, weights.get(finding.arm, 0.0)
        if finding.action == "rollback" and weight > 0:
            if policy.auto_rollback if rollback is None else rollback:
                reason = f"canary rollback: {finding.reason}"
                weights = rollback_weights(workspace, spec, arm, reason=reason).weights
                moved.append(f"rolled back {arm}")
            continue
        step = next((r for r in policy.ramp if r > weight), None)
        if finding.action != "healthy" or step is None or weight == 0:
            continue
        state = read_state(workspace, spec)
        since = feedback.get(arm, 0) - (state.evidence.get(arm, 0) if state else 0)
        room = weights.get(baseline, 0.0)
        if since < policy.min_feedback or room < step - weight:
            continue
        new = {arm: step, baseline: room - (step - weight)}
        reason = f"canary ramp: {arm} healthy ({finding.reason}) → {step:g}%"
        weights = set_weights(workspace, spec, new, reason=reason, evidence=feedback).weights
        moved.append(f"ramped {arm} to {step:g}%")
    return verdict, moved
