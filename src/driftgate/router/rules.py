"""A route's learned rules, as serving reads them: `rule/ROUTE@ALIAS` from the registry.

A rule arm (`{name: learned, rule: candidate, choices: [cheap, strong]}`) serves, per
request, the choice its rule picks from the request's variables and segment. The rule is a
registry version of `rule/ROUTE` (made by `driftgate retrain route/ROUTE`), so what serves
is a version, a promotion or a rollback is an alias move, and every process sees the move
on its next request (the registry's resolver re-reads the alias state when it changes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..workspace import Workspace

if TYPE_CHECKING:
    from ..artifacts.route import RouteArm, RouteSpec
    from ..gate import GateVerdict
    from ..registry.moves import MoveResult
    from ..registry.serving import ResolvedArtifact
    from ..routing.rule import RoutingRule


def rule_ref(route: str, selector: str) -> str:
    return f"rule/{route}@{selector}"


def resolve_rule_version(ws: Workspace, route: str, selector: str) -> ResolvedArtifact:
    """The registry version a rule arm's `rule:` names now (alias, number or digest)."""
    from ..registry.serving import resolve

    return resolve(rule_ref(route, selector), workspace=ws)


def resolve_rule(ws: Workspace, route: str, selector: str) -> RoutingRule:
    rule: RoutingRule = resolve_rule_version(ws, route, selector).definition
    return rule


def checked_rule(ws: Workspace, spec: RouteSpec, arm: RouteArm) -> RoutingRule:
    """The rule a rule arm serves, checked against the arm: it must pick among exactly the
    arm's choices (a rule trained for other arms would send requests nowhere)."""
    assert arm.rule is not None
    rule = resolve_rule(ws, spec.name, arm.rule)
    if sorted(rule.choices) != sorted(arm.choices):
        raise ConfigError(
            f"route {spec.name!r}: arm {arm.name!r} picks among {arm.choices}, but "
            f"{rule_ref(spec.name, arm.rule)} was trained for {rule.choices}",
            field=f"arms[{arm.name}].choices",
            hint=f"retrain: driftgate retrain route/{spec.name}",
        )
    return rule


def _serving(ws: Workspace, spec: RouteSpec, digest: str) -> RouteArm | None:
    """The rule arm whose rule is that version now."""
    from ..errors import DriftgateError

    for arm in spec.arms:
        if arm.rule is not None:
            try:
                if resolve_rule_version(ws, spec.name, arm.rule).digest == digest:
                    return arm
            except DriftgateError:
                continue
    return None


def canary_gate(ws: Workspace, spec: RouteSpec, ref: str, digest: str) -> GateVerdict:
    """Whether rule version `digest` earned promotion live: the canary of the rule arm
    serving it must show it not worse than the baseline arm by more than the route's
    canary margin (always-valid bounds, as the guard reads them)."""
    from ..gate import GateVerdict, RuleResult
    from .canary import check_canary

    arm = _serving(ws, spec, digest)
    name = f"canary against {spec.baseline_arm}"
    finding = None
    if arm is None:
        result = RuleResult(
            rule="non_inferiority", name=name, status="fail",
            detail=f"no arm of route {spec.name} serves {ref}: it was never canaried",
        )  # fmt: skip
    else:
        finding = check_canary(ws, spec).finding(arm.name)
        bounds = finding.bounds if finding is not None else None
        margin = spec.canary.margin
        ok = bounds is not None and bounds.lower > -margin
        result = RuleResult(
            rule="non_inferiority", name=name, status="pass" if ok else "fail",
            observed=bounds.estimate if bounds else None, threshold=-margin,
            ci_low=bounds.lower if bounds else None, ci_high=bounds.upper if bounds else None,
            detail=finding.reason if finding is not None else "no canary evidence yet",
        )  # fmt: skip
    return GateVerdict(
        passed=result.status == "pass",
        candidate=ref,
        baseline=spec.baseline_arm,
        policy=f"route {spec.name} canary",
        metric="answer quality against feedback labels",
        confidence=1 - spec.canary.alpha,
        n_cases=finding.labeled if finding is not None else 0,
        on=f"route {spec.name}'s traffic log",
        rules=[result],
    )


def promote_rule(
    ref: str, to: str = "production", *, workspace: Workspace | None = None,
    force: bool = False, reason: str | None = None, skip_gate: bool = False,
) -> MoveResult:  # fmt: skip
    """`promote` for a rule version: gated by its arm's canary on the route it is named
    after (`--skip-gate --force --reason` to override, recorded in the audit)."""
    from ..registry.core import Registry
    from ..registry.moves import promote
    from ..registry.versions import parse_ref
    from .router import load_route_ref

    ws = workspace or Workspace.find(None)
    r = parse_ref(ref)
    verdict = None
    if not skip_gate:
        record = Registry.of(ws).find(r)
        verdict = canary_gate(ws, load_route_ref(ws, r.name), record.ref, record.digest)
    return promote(
        ref, to, workspace=ws, force=force, reason=reason, skip_gate=skip_gate, verdict=verdict
    )
