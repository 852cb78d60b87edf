"""A labeled request: one request with the score and cost of every choice's answer to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from .._strict import Strict
from .features import RequestFeatures


class LabeledRequest(Strict):
    id: str
    ts: float
    vars: dict[str, Any]
    segment: str | None = None
    quality: dict[str, float] = Field(description="Choice → score in [0, 1] of its answer.")
    cost: dict[str, float] = Field(default_factory=dict, description="Choice → USD.")


def as_features(examples: Sequence[LabeledRequest]) -> list[RequestFeatures]:
    return [RequestFeatures(vars=r.vars, segment=r.segment) for r in examples]
