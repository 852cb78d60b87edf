"""What a comparison of two arms produces: plain, JSON-serializable pydantic models.

Every report (terminal, markdown, HTML, JUnit, JSON) and the CI gate read a `Comparison`
and nothing else, so a comparison computed once can be rendered many ways, stored, or
diffed later. Conventions:

* B is compared with A: `delta = mean(B) - mean(A)`, so a negative delta is a drop;
  "regressed" means passed in A and failed in B.
* Case ids in `only_a` / `only_b` / `flaky_*` are bare when the comparison covers one
  golden set and `EVALSET:CASE_ID` when it covers several.
* Metrics: `pass` (0/1 per result), `score` (the weighted score) and every scorer metric
  by its name. Provider errors count as a failure (0), never as a missing value: an
  outage must not make a version look better.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from .._strict import Strict
from ..stats import PairedResult, Verdict
from ..store.records import RunManifest, RunStatus

Direction = Literal["regressed", "improved"]
Scale = Literal["rate", "value"]
UsageName = Literal["cost_usd", "input_tokens", "output_tokens", "latency_ms"]
USAGE_NAMES: tuple[UsageName, ...] = ("cost_usd", "input_tokens", "output_tokens", "latency_ms")


class Side(Strict):
    """One side of a comparison: an arm (prompt × model) of one run."""

    run_id: str | None = None
    arm: str = Field(description="`PROMPT · MODEL`")
    prompt: str
    prompt_digest: str | None = None
    model: str = Field(description="Model label (its id unless labelled)")
    model_id: str | None = Field(None, description="Model id from the run manifest")
    status: RunStatus | None = None
    created_at: float | None = None
    git_revision: str | None = None
    results: int = Field(description="Results of this arm (all repeats)")
    cases: int = Field(description="Distinct cases of this arm")
    fingerprints: list[str] = Field(
        default_factory=list, description="Distinct provider fingerprints seen (model versions)"
    )

    @property
    def label(self) -> str:
        """Short display name: `RUN_ID · PROMPT · MODEL`, or the arm alone."""
        return f"{self.run_id} · {self.arm}" if self.run_id else self.arm


class SegmentComparison(Strict):
    segment: str
    n: int = Field(description="Common cases in the segment")
    results: dict[str, PairedResult] = Field(
        default_factory=dict, description="Per metric; empty when the segment has < 2 cases"
    )
    verdict: Verdict | None = Field(None, description="Of the primary metric, against the margin")
    note: str | None = None


class FlippedCase(Strict):
    """A case that passed on one side and failed on the other (after reducing repeats)."""

    evalset: str
    case_id: str
    segment: str | None = None
    direction: Direction
    expected: Any = None
    output_a: str | None = None
    output_b: str | None = None
    pass_a: float
    pass_b: float
    score_a: float | None = None
    score_b: float | None = None
    error_a: str | None = None
    error_b: str | None = None


class UsageDelta(Strict):
    """Median and p95 of a per-result quantity on each side, and B - A."""

    name: UsageName
    n_a: int
    n_b: int
    median_a: float | None = None
    median_b: float | None = None
    median_delta: float | None = None
    p95_a: float | None = None
    p95_b: float | None = None
    p95_delta: float | None = None
    total_a: float | None = None
    total_b: float | None = None


class Histogram(Strict):
    """Per-case values of one metric on both sides, binned on shared edges."""

    edges: list[float]
    counts_a: list[int]
    counts_b: list[int]


class Comparison(Strict):
    """B compared with A on the cases both answered. See the module docstring."""

    a: Side
    b: Side
    metric: str = Field(description="Primary metric: decides `verdict`")
    reducer: str
    k: int | None = None
    cluster_by: str | None = None
    confidence: float
    seed: int
    margin: float = Field(description="Tolerated drop, in the primary metric's units")
    evalsets: list[str] = Field(description="Golden sets both sides cover")
    n_common: int
    only_a: list[str] = Field(default_factory=list, description="Cases answered by A only")
    only_b: list[str] = Field(default_factory=list, description="Cases answered by B only")
    overall: dict[str, PairedResult] = Field(description="Per metric, over all common cases")
    scales: dict[str, Scale] = Field(
        default_factory=dict, description="`rate`: values in [0, 1], shown as points"
    )
    segments: list[SegmentComparison] = Field(default_factory=list)
    wins: int
    losses: int
    ties: int
    answer_pairs: int = Field(0, description="(case, repeat) pairs with a result on both sides")
    answer_mismatches: int = 0
    answer_mismatch_rate: float | None = Field(
        None, description="Share of pairs whose outputs differ"
    )
    flipped: list[FlippedCase] = Field(default_factory=list)
    usage: list[UsageDelta] = Field(default_factory=list)
    histograms: dict[str, Histogram] = Field(default_factory=dict)
    flaky_a: list[str] = Field(default_factory=list)
    flaky_b: list[str] = Field(default_factory=list)
    verdict: Verdict
    warnings: list[str] = Field(default_factory=list)
    manifest_a: RunManifest | None = None
    manifest_b: RunManifest | None = None
    created_at: float = Field(default_factory=time.time)

    @property
    def primary(self) -> PairedResult:
        return self.overall[self.metric]

    @property
    def regressed(self) -> list[FlippedCase]:
        return [f for f in self.flipped if f.direction == "regressed"]

    @property
    def improved(self) -> list[FlippedCase]:
        return [f for f in self.flipped if f.direction == "improved"]

    def usage_of(self, name: UsageName) -> UsageDelta | None:
        return next((u for u in self.usage if u.name == name), None)
