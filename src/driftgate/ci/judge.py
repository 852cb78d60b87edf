"""One head arm against its base arm: the policy's verdict, and the comparison the
reports show. The decision is `driftgate.gate.evaluate_gate`'s; nothing here second-guesses it."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from ..errors import ConfigError, DriftgateError
from ..gate import GateVerdict
from ..gate.verdict import rule_figures
from ..store.records import CaseResult, RunManifest
from ..workspace import Workspace
from .schema import ArmOutcome, Usage


class _GateNames(TypedDict, total=False):
    """`evaluate_gate`'s naming arguments; the baseline's only when there is a base."""

    candidate: str
    candidate_digest: str | None
    baseline: str
    baseline_digest: str | None


# compare_results raises ConfigError with these fields when the two sides share no case
# (a golden set replaced wholesale): the arm is then gated as if new, with a warning.
_NOTHING_IN_COMMON = ("case_id", "evalset")


def usage_of(results: list[CaseResult]) -> Usage:
    """Calls made (cache misses that reached a provider), cache hits, errors and cost."""
    calls = cached = errors = 0
    cost = 0.0
    for r in results:
        if r.error is not None:
            errors += 1
        if r.cached:
            cached += 1
        elif r.error_kind != "template":  # a template error never reached a provider
            calls += 1
            cost += r.cost_usd or 0.0
    return Usage(calls=calls, cached=cached, errors=errors, cost_usd=cost)


def judge_arm(
    outcome: ArmOutcome,
    head: list[CaseResult],
    base: list[CaseResult] | None,
    head_manifest: RunManifest | None,
    base_manifest: RunManifest | None,
    *,
    policy_path: Path | None,
    workspace: Workspace,
    baseline_digest: str | None,
) -> None:
    """Fill `outcome.verdict` and `outcome.comparison` (or `outcome.error`)."""
    from ..compare import compare_results
    from ..gate import evaluate_gate, find_policy, load_policy

    if not head:
        outcome.error = "the head run has no results for this arm"
        return
    try:
        policy = (
            load_policy(policy_path) if policy_path else find_policy(workspace, outcome.prompt_name)
        )
    except DriftgateError as exc:
        outcome.error = f"gate policy: {exc}"
        return
    names = _GateNames(candidate=f"{outcome.arm} (head)", candidate_digest=head[0].prompt_digest)
    if base:
        names["baseline"] = f"{outcome.baseline_arm} (base)"
        names["baseline_digest"] = baseline_digest
    try:
        outcome.verdict = _relative_policy(
            evaluate_gate(head, base or None, policy, **names), workspace
        )
        if base:
            margin = policy.non_inferiority.margin if policy.non_inferiority else 0.0
            outcome.comparison = compare_results(
                base,
                head,
                metric=policy.metric,
                margin=margin,
                confidence=policy.confidence,
                seed=policy.seed,
                manifest_a=base_manifest,
                manifest_b=head_manifest,
            )
    except ConfigError as exc:
        if base and exc.field in _NOTHING_IN_COMMON:
            outcome.comparison = None
            outcome.baseline_source, outcome.baseline_run, outcome.baseline_arm = "none", None, None
            try:
                outcome.verdict = _relative_policy(
                    evaluate_gate(
                        head,
                        None,
                        policy,
                        candidate=names["candidate"],
                        candidate_digest=names["candidate_digest"],
                    ),
                    workspace,
                )
            except DriftgateError as inner:
                outcome.error = str(inner)
                return
            outcome.verdict.warnings.append(f"not compared with the base: {exc.message}")
            return
        outcome.verdict = None
        outcome.error = str(exc)


def _relative_policy(verdict: GateVerdict, ws: Workspace) -> GateVerdict:
    """Name the policy file relative to the workspace: a runner's checkout path means
    nothing in a PR comment."""
    root = str(ws.root) + "/"
    if verdict.policy.startswith(root):
        verdict.policy = verdict.policy[len(root) :]
    return verdict


def failed_rules_text(verdict: GateVerdict) -> str:
    """The failed rules in one line: name, observed value, interval, threshold."""
    parts = []
    for r in verdict.failed:
        nums = rule_figures(r, observed="observed ")
        parts.append(
            r.name
            + (f" ({', '.join(nums)})" if nums else "")
            + (f": {r.detail}" if r.detail and not nums else "")
        )
    return "; ".join(parts)
