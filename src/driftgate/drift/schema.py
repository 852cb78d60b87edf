"""What drift detection stores and returns: plain, JSON-serializable pydantic models.

A check compares a fresh run of the production configuration with the baseline run on
every signal; each signal reports a value, the threshold it was held against, a verdict
and the numbers behind it. Checks are stored one file each, so `drift history` and
`drift tune` read them back without a database.

Conventions: `value > threshold` is drift (every statistic grows with drift); a signal
that cannot be computed reliably says `insufficient_data` with the minimum it needs and
never counts towards a trigger.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from .._strict import Strict
from ..errors import EXIT_BELOW_THRESHOLD, EXIT_OK

Verdict = Literal["ok", "drift", "insufficient_data"]
ThresholdSource = Literal["default", "adaptive", "tuned", "config"]
CheckStatus = Literal["baseline_recorded", "checked"]

# Exit code of an alert: the same "1" a suite below its pass threshold uses, so cron and CI
# treat "something got worse" alike.
EXIT_DRIFT = EXIT_BELOW_THRESHOLD


class SignalResult(Strict):
    """One signal of one check (or one traffic report)."""

    name: str
    value: float | None = Field(None, description="The statistic; larger means more drift")
    threshold: float | None = None
    threshold_source: ThresholdSource | None = None
    verdict: Verdict
    n: int = Field(0, description="Observations the statistic is based on")
    min_n: int = Field(description="Observations needed for a verdict")
    summary: str = Field("", description="One line for people")
    detail: dict[str, Any] = Field(default_factory=dict, description="The numbers behind it")

    @property
    def drifted(self) -> bool:
        return self.verdict == "drift"


class ArmCheck(Strict):
    """The signals of one arm (prompt × model) against its baseline arm."""

    arm: str
    baseline_arm: str
    n_common: int = Field(0, description="Cases compared (answered in both runs)")
    signals: list[SignalResult] = Field(default_factory=list)
    fired: list[str] = Field(default_factory=list, description="Trigger rules that fired")
    alert: bool = False

    def signal(self, name: str) -> SignalResult | None:
        return next((s for s in self.signals if s.name == name), None)


class GoldenSetChange(Strict):
    """How a golden set differs from the one the baseline ran."""

    evalset: str
    baseline_digest: str | None = None
    current_digest: str | None = None
    added: int = 0
    removed: int = 0
    modified: int = Field(0, description="Same id, different content: left out")
    common: int = Field(0, description="Unchanged cases usable for the comparison")
    examples: dict[str, list[str]] = Field(default_factory=dict)


class DriftCheck(Strict):
    """One `drift check`: stored as `.driftgate/drift/<key>/checks/<id>.json`."""

    id: str
    key: str
    suite: str | None = None
    models: list[str] = Field(default_factory=list)
    status: CheckStatus
    created_at: float = Field(default_factory=time.time)
    run_id: str
    baseline_run_id: str | None = None
    sample: int | None = Field(None, description="Cases per golden set (None: all)")
    cases: int = 0
    golden_set_changes: list[GoldenSetChange] = Field(default_factory=list)
    arms: list[ArmCheck] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    thresholds_tuned_at: float | None = Field(
        None, description="When the tuned thresholds used were made"
    )
    alert: bool = False

    @property
    def exit_code(self) -> int:
        return EXIT_DRIFT if self.alert else EXIT_OK


class EvalSetSnapshot(Strict):
    """A golden set as the baseline saw it: its digest and each case's content digest."""

    name: str
    path: str
    digest: str
    cases: dict[str, str] = Field(default_factory=dict, description="case id → content digest")
    segments: dict[str, str | None] = Field(default_factory=dict, description="case id → segment")


class DriftBaseline(Strict):
    """`.driftgate/drift/<key>/baseline.json`: the run every check is compared with."""

    key: str
    suite: str | None = None
    models: list[str] = Field(default_factory=list)
    run_id: str
    created_at: float = Field(default_factory=time.time)
    sample: int | None = None
    seed: int = 0
    arms: list[str] = Field(default_factory=list, description="Arm names in plan order")
    prompts: dict[str, str] = Field(default_factory=dict, description="prompt ref → digest")
    model_ids: dict[str, str] = Field(default_factory=dict, description="model label → id")
    evalsets: list[EvalSetSnapshot] = Field(default_factory=list)


class DriftKey(Strict):
    """`.driftgate/drift/<key>/key.json`: what a key stands for, for listings."""

    key: str
    suite: str | None = None
    models: list[str] = Field(default_factory=list)


class TunedSignal(Strict):
    name: str
    threshold: float
    null_n: int = Field(description="Past values the threshold was chosen from")
    null_mean: float | None = None
    null_sd: float | None = None
    null_max: float | None = None
    floor_applied: bool = False
    detectable: str | None = Field(None, description="What change it then detects (80% power)")


class TuningReport(Strict):
    """`drift tune`: thresholds chosen from past no-drift checks; persisted as thresholds.json."""

    key: str | None = None
    created_at: float = Field(default_factory=time.time)
    target: float = Field(description="Wanted false-alarm rate of the trigger per check")
    safety: float = Field(description="Share of the target aimed at, for estimation noise")
    alpha: float = Field(description="Tail probability per signal the thresholds sit at")
    history: int = Field(description="Checks used")
    excluded: list[str] = Field(default_factory=list)
    estimated_false_alarm_rate: float = Field(description="Leave-one-check-out rate of the trigger")
    estimated_rate_ci_high: float = Field(description="Upper end of its 95% Wilson interval")
    met: bool = Field(description="Whether the estimate is within the target")
    thresholds: dict[str, TunedSignal] = Field(default_factory=dict)
    fixed: dict[str, float | None] = Field(
        default_factory=dict, description="Signals not tuned (set in config, or by design)"
    )
    notes: list[str] = Field(default_factory=list)

    def threshold(self, name: str) -> float | None:
        t = self.thresholds.get(name)
        return t.threshold if t else None


class UnreviewedArtifact(Strict):
    """A prompt whose current digest no stored run ever evaluated."""

    ref: str
    digest: str
    source: str | None = None
    evaluated_digests: list[str] = Field(
        default_factory=list, description="Digests of this prompt that runs did evaluate"
    )
    last_evaluated_run: str | None = None


class TrafficReport(Strict):
    """`drift traffic`: logged production inputs against the golden set and a reference window."""

    id: str
    key: str | None = None
    created_at: float = Field(default_factory=time.time)
    inputs: str
    field: str
    records: int
    reference: str | None = Field(None, description="Reference window: a file, or `first N`")
    signals: list[SignalResult] = Field(default_factory=list)
    fired: list[str] = Field(default_factory=list)
    unreviewed: list[UnreviewedArtifact] = Field(default_factory=list)
    unreviewed_alerts: bool = Field(
        False, description="Whether unreviewed prompts alert (policy `alert`) or are notices"
    )
    notes: list[str] = Field(default_factory=list)
    alert: bool = False

    @property
    def exit_code(self) -> int:
        return EXIT_DRIFT if self.alert else EXIT_OK
