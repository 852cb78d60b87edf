"""What the route commands do, one library function each, so that `driftgate route`,
`driftgate loop` and a gateway built on the library make the same decisions:

    status = route_status(ws, spec)          # verdict, live weights, last move, mirrored
    result = check_route(ws, spec)           # judge, roll back / ramp; result.exit_code
    state = rollback_arm(ws, spec, "v2")     # None when v2 already has weight 0
    cases = write_labels(ws, "categorize", Path("labels.jsonl"))

The command modules only parse options and render these results.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .canary import CanaryVerdict, check_canary, guard
from .state import (
    WeightsState,
    current_weights,
    history,
    mirrored_arms,
    rollback_weights,
    sync_state,
)

if TYPE_CHECKING:
    from ..artifacts.route import RouteArm, RouteSpec
    from ..gate import GateVerdict
    from ..registry.moves import MoveResult
    from ..workspace import Workspace


# ---- status -------------------------------------------------------------------------------
@dataclass
class RouteStatus:
    verdict: CanaryVerdict
    weights: dict[str, float]  # live now (state file, else the route file's)
    mirrored: list[str]  # live arms at weight 0 mirrored as shadows (on trial)
    # The move that set the live weights, when they are a move's (not the file's split).
    last_move: WeightsState | None
    # Rule arms: per rule version served, what it picked, per segment, and the held-out
    # figures it was gated on ({arm: RuleUse}).
    rules: dict[str, RuleUse] = field(default_factory=dict)


@dataclass
class RuleUse:
    """A rule arm in `route status`: the rule it serves and the choices it made."""

    rule: str | None  # rule/NAME@N, None when its alias is not set
    metrics: dict[str, float]  # held-out figures recorded when it was trained
    picks: dict[str, dict[str, int]]  # segment ("all" too) -> choice -> requests


def route_status(workspace: Workspace, spec: RouteSpec) -> RouteStatus:
    """The route now: its canary verdict (moves nothing), live weights and the last move."""
    sync_state(workspace, spec.name)  # weights moved on other machines
    verdict = check_canary(workspace, spec)
    weights = current_weights(workspace, spec)
    moves = [h for h in history(workspace, spec.name) if h.route_digest == spec.digest]
    last = moves[-1] if moves and moves[-1].weights == weights else None
    status = RouteStatus(verdict, weights, mirrored_arms(workspace, spec), last)
    status.rules = rule_uses(workspace, spec)
    return status


def rule_uses(workspace: Workspace, spec: RouteSpec) -> dict[str, RuleUse]:
    """Each rule arm's rule version and its picks per segment (from the traffic log)."""
    from ..errors import DriftgateError
    from .log import read_decisions
    from .rules import resolve_rule_version

    arms = [a for a in spec.arms if a.rule is not None]
    if not arms:
        return {}
    decisions = read_decisions(workspace, spec.name)
    out: dict[str, RuleUse] = {}
    for arm in arms:
        assert arm.rule is not None
        try:
            found = resolve_rule_version(workspace, spec.name, arm.rule)
            ref, digest, metrics = found.ref, found.digest, dict(found.definition.metrics)
        except DriftgateError:
            ref, digest, metrics = None, None, {}
        picks: dict[str, dict[str, int]] = {}
        for d in decisions:
            if d.arm == arm.name and not d.shadow and d.choice and d.prompt_digest == digest:
                for seg in ("all", d.segment or "(none)"):
                    by = picks.setdefault(seg, {})
                    by[d.choice] = by.get(d.choice, 0) + 1
        out[arm.name] = RuleUse(ref, metrics, picks)
    return out


def moves_since(workspace: Workspace, spec: RouteSpec, since: float) -> list[WeightsState]:
    """The weight moves of this route file's version made at or after `since`."""
    return [
        h
        for h in history(workspace, spec.name)
        if h.moved_at >= since and h.route_digest == spec.digest
    ]


# ---- check ----------------------------------------------------------------------------------
@dataclass
class RouteCheck:
    """A canary check and what it moved (`driftgate route check`)."""

    verdict: CanaryVerdict
    moves: list[str]  # "rolled back ARM", "ramped ARM to W%"
    weights: dict[str, float]  # live weights after the moves

    @property
    def rolled_back(self) -> list[str]:
        return [a for a in self.verdict.rollback_arms if f"rolled back {a}" in self.moves]

    @property
    def ready_to_promote(self) -> list[str]:
        """Live canaries not worse on fresh evidence at the ramp's last step."""
        return [f.arm for f in self.verdict.findings if f.action == "promote" and not f.shadow]

    @property
    def left_live(self) -> list[str]:
        """Worse canaries not rolled back (rollback off) that still serve."""
        return [
            a
            for a in self.verdict.rollback_arms
            if a not in self.rolled_back and self.weights.get(a, 0.0) > 0
        ]

    @property
    def already_out(self) -> list[str]:
        """Worse canaries already at weight 0: nothing to move."""
        return [
            a
            for a in self.verdict.rollback_arms
            if a not in self.rolled_back and self.weights.get(a, 0.0) == 0
        ]

    @property
    def exit_code(self) -> int:
        # 1 only while something is wrong that a person may have to act on: a worse canary
        # rolled back now, or left live with rollback off. One already at 0 needs nothing.
        return 1 if self.rolled_back or self.left_live else 0


def check_route(
    workspace: Workspace, spec: RouteSpec, *, rollback: bool | None = None
) -> RouteCheck:
    """Judge the canaries now and act: roll a worse one back (`rollback`, default the
    route's `canary.auto_rollback`), step a healthy one up its ramp."""
    do_rollback = spec.canary.auto_rollback if rollback is None else rollback
    verdict, moves = guard(workspace, spec, rollback=do_rollback)
    return RouteCheck(verdict, moves, current_weights(workspace, spec))


# ---- weights by hand ------------------------------------------------------------------------
def live_arm(spec: RouteSpec, arm: str) -> str:
    """`arm` when it is a live arm of the route; a shadow or unknown name is a ConfigError
    that says why (shadows take no live weight) or names the closest arms."""
    if any(a.name == arm for a in spec.arms):
        return arm
    if any(s.name == arm for s in spec.shadow):
        raise ConfigError(
            f"{arm!r} is a shadow arm of route {spec.name!r}: it serves nobody, so it has no "
            "live weight (its `sample` is set in the route file)",
            field=arm,
        )
    spec.arm(arm)  # raises UnknownNameError with the closest names
    return arm


def parse_weights(items: list[str], spec: RouteSpec) -> dict[str, float]:
    """`ARM=WEIGHT` assignments (percent) of live arms, each arm at most once."""
    out: dict[str, float] = {}
    for item in items:
        arm, eq, raw = item.partition("=")
        arm = arm.strip()
        try:
            weight = float(raw) if eq and arm else math.nan
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight):
            raise ConfigError(
                f"expected ARM=WEIGHT (a percentage), got {item!r}", field="ARM=WEIGHT"
            )
        if arm in out:
            raise ConfigError(f"arm {arm!r} is given twice", field=arm)
        out[live_arm(spec, arm)] = weight
    return out


def rollback_arm(
    workspace: Workspace, spec: RouteSpec, arm: str, *, reason: str = "rolled back by hand"
) -> WeightsState | None:
    """Give `arm`'s whole share to the baseline arm; None (nothing moved) when a canary
    already has weight 0."""
    live_arm(spec, arm)
    return rollback_weights(workspace, spec, arm, reason=reason)


# ---- labels ---------------------------------------------------------------------------------
def write_labels(
    workspace: Workspace, route: str | RouteSpec, output: Path
) -> list[dict[str, Any]]:
    """Write a route's feedback as a JSONL golden set (`labeled_cases`): one case per
    answered request with feedback; returns the cases. The file name is checked first."""
    from ..store._atomic import write_atomic
    from .log import labeled_cases
    from .router import load_route_ref

    if output.suffix.lower() != ".jsonl":
        raise ConfigError("labels are written as JSONL: name the file *.jsonl", path=output)
    name = load_route_ref(workspace, route).name if isinstance(route, str) else route.name
    cases = labeled_cases(workspace, name)
    write_atomic(output, "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases))
    return cases


# ---- promoting a rule ---------------------------------------------------------------
def _serving(ws: Workspace, spec: RouteSpec, digest: str) -> RouteArm | None:
    """The rule arm whose rule is that version now."""
    from ..errors import DriftgateError
    from .rules import resolve_rule_version

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
    from ..workspace import Workspace
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
