"""What a route's rule optimises: quality kept against the best single choice, a cost
ceiling, or an explicit quality-for-cost trade-off."""

from __future__ import annotations

from pydantic import Field, model_validator

from .._strict import Strict


class Objective(Strict):
    min_quality_vs_best: float | None = Field(
        None, gt=0, le=1, description="Keep at least this share of the best choice's quality."
    )
    max_cost_per_1k: float | None = Field(
        None, gt=0, description="Spend at most this many USD per 1,000 requests."
    )
    tradeoff: float | None = Field(
        None,
        ge=0,
        description="λ: pick the choice maximising predicted quality − λ × cost ÷ the "
        "costliest choice's cost (no tuning).",
    )

    @model_validator(mode="after")
    def _something_set(self) -> Objective:
        if (
            self.min_quality_vs_best is None
            and self.max_cost_per_1k is None
            and self.tradeoff is None
        ):
            raise ValueError("set min_quality_vs_best (e.g. 0.99), max_cost_per_1k, or tradeoff")
        return self
