"""A labeled request: one request with the score and cost of every choice's answer to it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import Field, field_validator

from .._strict import Strict
from .features import RequestFeatures


class LabeledRequest(Strict):
    id: str
    ts: float
    vars: dict[str, Any]
    segment: str | None = None
    quality: dict[str, float] = Field(description="Choice → score in [0, 1] of its answer.")
    cost: dict[str, float] = Field(default_factory=dict, description="Choice → USD.")

    @field_validator("quality")
    @classmethod
    def _scores(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if not 0.0 <= x <= 1.0}  # NaN fails too
        if bad:
            raise ValueError(f"scores are in [0, 1]; got {bad}")
        return v

    @field_validator("cost")
    @classmethod
    def _costs(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if not (math.isfinite(x) and x >= 0)}
        if bad:
            raise ValueError(f"costs are finite USD amounts ≥ 0; got {bad}")
        return v


def as_features(examples: Sequence[LabeledRequest]) -> list[RequestFeatures]:
    """What a rule reads of each labeled request (its variables and segment)."""
    return [RequestFeatures(vars=r.vars, segment=r.segment) for r in examples]
