"""A gate policy: its rules, and where the gate finds the policy file.

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

The paired rules use `compare_results` (the interval of the per-case difference, B =
candidate vs A = baseline: Bonett–Price for pass/fail outcomes, a percentile bootstrap for
graded scores; see `stats.paired`). A non-inferiority rule that fails only for want of cases
says roughly how many would settle its margin. A segment "regresses beyond its margin" when its difference
(`decide_on: delta`, the default, robust for small segments) or the lower bound of its
interval (`decide_on: ci_low`, strict) is below -margin; segments with fewer than
`min_cases` paired cases are listed as skipped. Without a baseline (a first promotion) the
rules against it are skipped, and say so. The verdict passes only when no rule fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, PrivateAttr, model_validator

from .._strict import Strict

if TYPE_CHECKING:
    from ..workspace import Workspace


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


def load_policy(path: Path | str) -> GatePolicy:
    from .._files import load_model

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


def policy_for(
    workspace: Workspace, name: str | None, policy: GatePolicy | Path | str | None
) -> GatePolicy:
    """The policy a gate applies: the one given (a policy or a file inside the workspace),
    else the artifact's own (`find_policy`)."""
    if isinstance(policy, GatePolicy):
        return policy
    if policy is not None:
        return load_policy(workspace.inside(policy, what="gate policy"))
    return find_policy(workspace, name)
