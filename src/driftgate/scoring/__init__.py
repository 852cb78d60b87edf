"""Scorers: one registry, built-ins in `builtins.py`, suite-level metrics in `metrics.py`."""

from .base import (
    SCORERS,
    Score,
    ScoreContext,
    Scorer,
    ScorerConfig,
    ScorerFailure,
    build_scorer,
    scorer,
    scorer_names,
)

__all__ = [
    "SCORERS",
    "Score",
    "ScoreContext",
    "Scorer",
    "ScorerConfig",
    "ScorerFailure",
    "build_scorer",
    "scorer",
    "scorer_names",
]
