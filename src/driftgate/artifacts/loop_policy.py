"""The `loop:` policy of a route: when `driftgate loop ROUTE` retrains, and how a candidate
earns its way from shadow to canary to production.

    loop:
      suite: evalsets/categorize-sim.suite.yaml   # offline gate + provider-drift check
      candidate_arm: candidate                    # live arm serving NAME@candidate
      provider_drift: true                        # re-run what the baseline arm serves
      drift_sample: 200                           # fixed stratified sample for that check
      drift_every_s: 3600                         # at most one provider-drift check an hour
      prompt_drift: true                          # the route's traffic vs the golden set
      traffic_window: 200                         # newest N inputs vs the N before
      retrain_on_labels: 500                      # also retrain after N new labels, no alarm
      labels: [evalsets/reviewed.jsonl]           # extra labeled files for every retrain
      shadow_min_labeled: 100                     # paired labeled requests before the canary

Nothing here decides a statistical question by itself: the offline gate is the prompt's
gate policy, the shadow and canary verdicts are the route's `canary:` policy (always-valid
sequential tests), and this policy only says which of them to consult and when.
"""

from __future__ import annotations

from pydantic import Field

from .._strict import Strict


class LoopPolicy(Strict):
    suite: str | None = Field(
        None,
        description="Suite file for the offline gate and the provider-drift check "
        "(workspace-relative; default: the workspace's suite).",
    )
    candidate_arm: str = Field(
        "candidate",
        description="The live arm whose prompt is NAME@candidate: retrained versions serve there.",
    )
    provider_drift: bool = Field(True, description="Check what the baseline arm serves.")
    drift_sample: int | None = Field(
        None, ge=1, description="Cases per golden set in the provider-drift check (default: all)."
    )
    drift_every_s: float = Field(
        0.0,
        ge=0,
        description="Minimum seconds between two provider-drift checks (they cost calls).",
    )
    prompt_drift: bool = Field(True, description="Check the route's logged inputs.")
    traffic_window: int | None = Field(
        None,
        ge=10,
        description="Compare the newest N logged inputs with the N before, as well as with "
        "the golden set (default: golden set only).",
    )
    retrain_on_labels: int | None = Field(
        None, ge=1, description="Retrain once this many new labels were logged, alarm or not."
    )
    labels: list[str] = Field(
        default_factory=list,
        description="Labeled files (golden-set format) added to every retrain.",
    )
    shadow_min_labeled: int = Field(
        100, ge=1, description="Labeled requests the shadow must answer before it becomes a canary."
    )
    model: str | None = Field(
        None, description="The model to gate on, when the suite runs several."
    )
