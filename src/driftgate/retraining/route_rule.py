"""`driftgate retrain route/NAME`: a route's rule trained from its labeled traffic, gated on
newer held-out traffic, and registered as the route's `candidate` rule when it passes.

    from driftgate.retraining.route_rule import retrain_route
    result = retrain_route("categorize", workspace=ws)
    result.candidate      # "rule/categorize@3" (None when the rule trained equals one known)

1. Labeled requests from the route's traffic log (`router.training.labeled_requests`):
   each request feedback labeled, with the score and cost of every arm's answer to it —
   the live one and the shadows'. Only requests answered by every choice of the rule arm
   train and test it (paired: each choice's counterfactual is known).
2. Time-ordered split: the rule is trained on the older part and evaluated on the newest
   `learn.holdout` share, as it would meet traffic after it ships.
3. The gate (`gate.routing_rule`): against every single choice and the rule serving now.
4. On a pass (and not `dry_run`), the rule is registered as a version of `rule/NAME` and
   `candidate` points at it through the registry's audited compare-and-swap move; the rule
   arm naming `rule: candidate` serves it at the weight the route (or a canary) gives it.
   Promotion and rollback are moves of `production` like any artifact's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from .._strict import Strict
from ..errors import ConfigError, VersionNotFound
from ..gate import GateVerdict
from ..workspace import Workspace

if TYPE_CHECKING:
    from ..artifacts.route import LearnPolicy, RouteSpec
    from ..routing.evaluate import RuleEvaluation
    from ..routing.labeled import LabeledRequest

CANDIDATE = "candidate"
PRODUCTION = "production"


class RouteRetrainResult(Strict):
    route: str
    arm: str = Field(description="The rule arm whose choices the rule picks among.")
    choices: list[str]
    dry_run: bool
    alias: str
    labeled: int = Field(description="Labeled requests in the traffic log.")
    paired: int = Field(description="Of those, answered by every choice (train + test).")
    train_size: int
    test_size: int
    candidate: str | None = Field(None, description="The new rule version: rule/NAME@N.")
    candidate_digest: str | None = None
    current: str | None = Field(None, description="The rule serving as production, if any.")
    evaluation: dict[str, Any] = Field(description="RuleEvaluation on the held-out slice.")
    verdict: GateVerdict
    passed: bool
    applied: bool = False
    notes: list[str] = Field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


def retrain_route(
    route: str,
    *,
    workspace: Workspace | None = None,
    since: float | None = None,
    dry_run: bool = False,
    alias: str = CANDIDATE,
) -> RouteRetrainResult:
    """Train, gate and (on a pass) register the route's rule; see the module docstring."""
    from ..router.router import load_route_ref
    from ..router.training import labeled_requests
    from ..routing.features import FeatureSpec
    from ..routing.objective import Objective
    from ..routing.train import train_rule
    from . import _check_alias

    ws = workspace or Workspace.find(None)
    _check_alias(alias)
    spec = load_route_ref(ws, route)
    policy = _policy(spec)
    arm = next(a for a in spec.arms if a.name == policy.arm)
    requests = labeled_requests(ws, spec, since=since)
    paired = [r for r in requests if all(c in r.quality for c in arm.choices)]
    if len(paired) < policy.min_labeled:
        raise ConfigError(
            f"route {spec.name!r}: {len(paired)} labeled requests were answered by every choice "
            f"of arm {arm.name!r} ({', '.join(arm.choices)}) out of {len(requests)} labeled; "
            f"training needs {policy.min_labeled}",
            field="learn.min_labeled",
            hint="mirror the choices as shadows (sample: 1.0) and collect feedback, "
            "or lower learn.min_labeled",
        )
    trained = train_rule(
        paired,
        arm.choices,
        Objective.model_validate(policy.objective),
        features=FeatureSpec.model_validate(policy.features),
        kind=policy.kind,
        holdout=policy.holdout,
    )
    test = sorted(paired, key=lambda r: (r.ts, r.id))[-trained.test_size :]
    current, current_ev = _current(ws, spec, test)
    verdict = _verdict(spec, policy, trained.evaluation, current, current_ev)
    result = RouteRetrainResult(
        route=spec.name, arm=arm.name, choices=list(arm.choices), dry_run=dry_run, alias=alias,
        labeled=len(requests), paired=len(paired), train_size=trained.train_size,
        test_size=trained.test_size, current=current,
        evaluation=trained.evaluation.model_dump(mode="json", exclude={"scores", "costs"}),
        verdict=verdict, passed=verdict.passed,
    )  # fmt: skip
    if verdict.passed and not dry_run:
        _register_and_point(ws, spec.name, trained.rule, alias, result)
    return result


def _policy(spec: RouteSpec) -> LearnPolicy:
    if spec.learn is None:
        raise ConfigError(
            f"route {spec.name!r} has no `learn:` block: nothing says what its rule picks "
            "among or what it optimises",
            field="learn",
            hint="learn: {arm: learned, objective: {min_quality_vs_best: 0.99}}",
        )
    return spec.learn


def _current(
    ws: Workspace, spec: RouteSpec, test: list[LabeledRequest]
) -> tuple[str | None, RuleEvaluation | None]:
    """The rule serving as production now, evaluated on the same held-out requests."""
    from ..router.rules import resolve_rule_version
    from ..routing.evaluate import evaluate_rule

    try:
        found = resolve_rule_version(ws, spec.name, PRODUCTION)
    except VersionNotFound:
        return None, None
    return found.ref, evaluate_rule(found.definition, test)


def _verdict(
    spec: RouteSpec,
    policy: LearnPolicy,
    ev: RuleEvaluation,
    current: str | None,
    current_ev: RuleEvaluation | None,
) -> GateVerdict:
    from ..gate.routing_rule import rule_verdict
    from ..routing.objective import Objective

    return rule_verdict(
        ev,
        Objective.model_validate(policy.objective),
        candidate=f"rule/{spec.name} (trained)",
        margin=policy.margin,
        current=current_ev,
        current_ref=current,
    )


def _register_and_point(
    ws: Workspace, route: str, rule: Any, alias: str, result: RouteRetrainResult
) -> None:
    from ..registry.core import Registry
    from ..registry.moves import promote

    record, created = Registry.of(ws).register_rule(route, rule)
    result.candidate, result.candidate_digest = record.ref, record.digest
    if not created:
        result.notes.append(f"the trained rule equals {record.ref}, registered before")
    moved = promote(
        f"{record.target}@{record.digest}",
        to=alias,
        reason=f"retrain of route {route}: {result.paired} labeled requests, "
        f"{result.test_size} held out",
        workspace=ws,
        verdict=result.verdict,
    )
    result.applied = True
    if not moved.moved:
        result.notes.append(moved.message)
