"""Promotion gates: a policy of rules, and a verdict that lists every rule with its numbers.

A policy file (YAML or JSON). Where the gate looks for it, first match wins:

    --policy PATH                 given explicitly (Python: `policy=`)
    gates/NAME.yaml               per artifact (NAME = the prompt's name)
    gates/default.yaml            per workspace
    (built in)                    non-inferiority on `pass` with a 0.02 margin

(Not under prompts/ or evalsets/: every YAML file there is read as a prompt or a golden set.)

    description: Categorize may not get worse
    aliases: [production]          # moves this policy guards (promote --to ALIAS)
    metric: pass                   # pass | score | a scorer metric: for the paired rules
    confidence: 0.95
    min_cases: 30                  # paired cases (candidate cases when there is no baseline)
    required_evalsets: [tx]
    floors:                        # absolute: mean of a metric over a golden set or segment
      - {metric: category, min: 0.85}
      - {metric: pass, min: 0.8, evalset: tx, segment: cohort=new}
    non_inferiority: {margin: 0.02}    # lower bound of the paired difference > -margin
    segments: {margin: 0.05, margins: {cohort=new: 0.1}, min_cases: 10, decide_on: delta}
    cost: {max: 0.002, max_increase: 0.10}          # mean USD per result; +10 % vs baseline
    latency_p95: {max: 1500, max_increase: 0.25}    # milliseconds

The paired rules use `compare_results` (bootstrap interval of the per-case difference, B =
candidate vs A = baseline). A segment "regresses beyond its margin" when its difference
(`decide_on: delta`, the default, robust for small segments) or the lower bound of its
interval (`decide_on: ci_low`, strict) is below -margin; segments with fewer than
`min_cases` paired cases are listed as skipped. Without a baseline (a first promotion) the
rules against it are skipped, and say so. The verdict passes only when no rule fails.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from ._model import Strict

if TYPE_CHECKING:
    from .store.records import CaseResult
    from .workspace import Workspace

RuleKind = Literal[
    "min_cases", "required_evalset", "floor", "non_inferiority", "segment", "cost", "latency_p95"
]
Status = Literal["pass", "fail", "skip"]


class FloorRule(Strict):
    metric: str = "pass"
    min: float
    evalset: str | None = None
    segment: str | None = None


class NonInferiority(Strict):
    margin: float = Field(0.02, ge=0, description="Tolerated drop of `metric`, in its units")


class SegmentRule(Strict):
    margin: float = Field(0.05, ge=0)
    margins: dict[str, float] = Field(default_factory=dict, description="Per segment")
    min_cases: int = Field(10, ge=2, description="Smaller segments are reported, not judged")
    decide_on: Literal["delta", "ci_low"] = "delta"


class Budget(Strict):
    max: float | None = Field(None, ge=0, description="Absolute ceiling")
    max_increase: float | None = Field(
        None, ge=0, description="Relative to the baseline: 0.1 = +10 %"
    )

    @model_validator(mode="after")
    def _some_bound(self) -> Budget:
        if self.max is None and self.max_increase is None:
            raise ValueError("a budget needs `max`, `max_increase` or both")
        return self


class GatePolicy(Strict):
    description: str | None = None
    aliases: list[str] = Field(default_factory=lambda: ["production"])
    metric: str = "pass"
    confidence: float = Field(0.95, gt=0.5, lt=1)
    seed: int = 0
    min_cases: int = Field(0, ge=0)
    required_evalsets: list[str] = Field(default_factory=list)
    floors: list[FloorRule] = Field(default_factory=list)
    non_inferiority: NonInferiority | None = Field(default_factory=NonInferiority)
    segments: SegmentRule | None = None
    cost: Budget | None = Field(None, description="Mean cost per result, USD")
    latency_p95: Budget | None = Field(None, description="p95 latency, milliseconds")

    _source: Path | None = PrivateAttr(None)

    @property
    def source(self) -> Path | None:
        return self._source


class RuleResult(Strict):
    rule: RuleKind
    name: str
    status: Status
    observed: float | None = None
    threshold: float | None = None
    baseline: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    detail: str = ""


class GateVerdict(Strict):
    passed: bool
    candidate: str
    candidate_digest: str | None = None
    baseline: str | None = None
    baseline_digest: str | None = None
    policy: str = Field(description="Policy file, or `built-in default`")
    metric: str
    confidence: float
    n_cases: int
    rules: list[RuleResult]
    warnings: list[str] = Field(default_factory=list)
    created_at: float = Field(default_factory=time.time)

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.rules if r.status == "fail"]

    def summary(self) -> str:
        """One line for the audit log and CI logs."""
        judged = [r for r in self.rules if r.status != "skip"]
        head = f"{'PASS' if self.passed else 'FAIL'} {len(judged) - len(self.failed)}/{len(judged)} rules"
        if self.failed:
            head += ": " + "; ".join(f"{r.name} ({_numbers(r)})" for r in self.failed)
        return head


def load_policy(path: Path | str) -> GatePolicy:
    from ._files import load_model

    path = Path(path)
    policy = load_model(GatePolicy, path)
    policy._source = path
    return policy


def find_policy(workspace: Workspace, name: str | None = None) -> GatePolicy:
    """The policy for artifact `name`: gates/NAME.yaml, gates/default.yaml, or built in."""
    folder = workspace.root / "gates"
    stems = ([name.replace("/", "__")] if name else []) + ["default"]
    for stem in stems:
        for suffix in (".yaml", ".yml", ".json"):
            p = folder / f"{stem}{suffix}"
            if p.is_file():
                return load_policy(p)
    return GatePolicy()


def evaluate_gate(
    candidate_results: Iterable[CaseResult | dict[str, Any]],
    baseline_results: Iterable[CaseResult | dict[str, Any]] | None,
    policy: GatePolicy | None = None,
    *,
    candidate: str = "candidate",
    baseline: str = "baseline",
    candidate_digest: str | None = None,
    baseline_digest: str | None = None,
) -> GateVerdict:
    """Apply `policy` to a candidate's results and (None = no baseline) the baseline's.

    Pure: no files, no runs. Raises ConfigError when the policy names a metric, golden
    set or segment the results do not have (bad input: exit 2, nothing decided).
    """
    from .registry.rules import evaluate_rules

    policy = policy or GatePolicy()
    rules, n_cases, warnings = evaluate_rules(candidate_results, baseline_results, policy)
    return GateVerdict(
        passed=all(r.status != "fail" for r in rules),
        candidate=candidate,
        candidate_digest=candidate_digest,
        baseline=baseline if baseline_results is not None else None,
        baseline_digest=baseline_digest if baseline_results is not None else None,
        policy=str(policy.source) if policy.source else "built-in default",
        metric=policy.metric,
        confidence=policy.confidence,
        n_cases=n_cases,
        rules=rules,
        warnings=warnings,
    )


def gate(
    candidate: str,
    against: str | None = "production",
    *,
    suite: Path | str | None = None,
    policy: GatePolicy | Path | str | None = None,
    workspace: Workspace | Path | str | None = None,
    model: str | None = None,
) -> GateVerdict:
    """Gate a registered prompt version (`prompt/cat@3`) against an alias or a version.

    Results come from stored finished runs of the same suite settings, golden set files,
    prompt digests and model; what is missing is run now (both versions as two arms of one
    run; the response cache makes a re-run cheap). `against=None` gates without baseline.
    """
    from .registry.evidence import gate_version

    return gate_version(
        candidate, against, suite=suite, policy=policy, workspace=workspace, model=model
    )


def render_verdict(v: GateVerdict) -> str:
    """The verdict as a small table for the terminal."""
    lines = [
        f"gate {'PASSED' if v.passed else 'FAILED'}: {v.candidate}"
        + (f" vs {v.baseline}" if v.baseline else " (no baseline)")
        + f" · {v.n_cases} cases · policy {v.policy}"
    ]
    mark = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}
    width = max((len(r.name) for r in v.rules), default=10)
    for r in v.rules:
        lines.append(f"  {mark[r.status]}  {r.name:<{width}}  {_numbers(r)}".rstrip())
    lines += [f"  warning: {w}" for w in v.warnings]
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    if x is None:
        return "–"
    if math.isinf(x):
        return "inf"
    return f"{x:.4g}" if abs(x) >= 10 else f"{x:.3f}"


def _numbers(r: RuleResult) -> str:
    counts = r.rule in ("min_cases", "required_evalset")
    fmt = (lambda x: "–" if x is None else str(int(x))) if counts else _fmt
    parts = []
    if r.observed is not None:
        parts.append(f"observed {fmt(r.observed)}")
    if r.ci_low is not None and r.ci_high is not None:
        parts.append(f"CI [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]")
    if r.threshold is not None:
        parts.append(f"threshold {fmt(r.threshold)}")
    if r.baseline is not None:
        parts.append(f"baseline {fmt(r.baseline)}")
    if r.detail:
        parts.append(r.detail)
    return ", ".join(parts)
