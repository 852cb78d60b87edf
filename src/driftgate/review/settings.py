"""The review queue's settings: the `review:` section of driftgate.yaml.

    review:
      golden_set: evalsets/reviewed.jsonl   # where reviewed answers become golden cases
      low_confidence: 0.5                   # answers below this confidence are queued
      detect_delta: 0.05                    # the drop a retrain's gate should be able to see

This module sits with the workspace (layer 1: `Settings.review` is one of its fields) and
imports nothing of driftgate's but the base.
"""

from __future__ import annotations

from pydantic import Field

from .._strict import Strict


class ReviewSettings(Strict):
    golden_set: str = Field(
        "evalsets/reviewed.jsonl",
        description="Golden-set file (in the workspace) that reviewed answers are added to.",
    )
    low_confidence: float = Field(
        0.5, ge=0.0, le=1.0, description="Queue live answers whose confidence is below this."
    )
    drift_quantile: float = Field(
        0.05,
        gt=0.0,
        lt=0.5,
        description="Queue inputs farther from every golden case than this share of golden "
        "cases are from their nearest neighbour (character TF-IDF cosine).",
    )
    detect_delta: float = Field(
        0.05,
        gt=0.0,
        lt=1.0,
        description="Drop in a segment's accuracy the next retrain's gate should detect; sets "
        "how many labels each segment still needs (paired power, 80%, alpha 0.05).",
    )
