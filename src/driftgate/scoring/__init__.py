"""Scorers: the registry table in `base.py`, building by name in `build.py`, built-ins in
`builtins.py`, suite-level metrics in `metrics.py`."""

from .base import (
    SCORERS,
    Score,
    ScoreContext,
    Scorer,
    ScorerConfig,
    ScorerFailure,
    scorer,
)
from .build import build_scorer, scorer_names

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
