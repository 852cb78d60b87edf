"""A gate's verdict: every rule with its numbers, one line for logs, a table for terminals."""

from __future__ import annotations

import math
import time
from typing import Literal

from pydantic import Field

from .._strict import Strict

RuleKind = Literal[
    "min_cases", "required_evalset", "floor", "non_inferiority", "segment", "cost", "latency_p95"
]
Status = Literal["pass", "fail", "skip"]


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
    on: str | None = Field(
        None, description="Where the results came from: the suite file and the model gated on"
    )
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
            head += ": " + "; ".join(f"{r.name} ({rule_numbers(r)})" for r in self.failed)
        return head


def _fmt(x: float | None) -> str:
    if x is None:
        return "–"
    if math.isinf(x):
        return "inf"
    return f"{x:.4g}" if abs(x) >= 10 else f"{x:.3f}"


def rule_numbers(r: RuleResult) -> str:
    """A rule's figures in one line (observed, interval, threshold, baseline, detail): used by
    the verdict's stored summary and by its terminal table (`report/gate.py`)."""
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


def rule_figures(r: RuleResult, *, observed: str = "") -> list[str]:
    """A rule's observed value (signed for differences), interval and threshold, compact: the
    CI outputs' form (`rule_numbers` is the verdict's own, with baseline and detail)."""
    parts = []
    if r.observed is not None:
        signed = r.rule in ("non_inferiority", "segment")
        parts.append(observed + (f"{r.observed:+.3f}" if signed else f"{r.observed:.4g}"))
    if r.ci_low is not None and r.ci_high is not None:
        parts.append(f"CI [{r.ci_low:+.3f}, {r.ci_high:+.3f}]")
    if r.threshold is not None:
        parts.append(f"threshold {r.threshold:g}")
    return parts
