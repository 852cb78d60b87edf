"""Suites: the matrix of prompts × models × golden sets × scorers × repeats.

description: Categorize bank transactions
prompts: [categorize@zero-shot, categorize@few-shot]
models: [local/smollm2-135m]        # optional: each prompt's own `model` otherwise
evalsets: [transactions]            # names in evalsets/ or paths
scorers:
  - {type: label-match, metric: category}
  - {type: latency, max_ms: 5000, weight: 0}
metrics: [accuracy, macro_f1]       # suite-level metrics over labels
repeat: 1
pass_threshold: 0.8                 # share of passing cases for exit code 0
max_error_rate: 0.05                # provider errors above this: exit 3
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from ._strict import Strict
from .providers.base import ModelConfig


class Suite(Strict):
    description: str | None = None
    prompts: list[str] = Field(min_length=1, description="Prompt refs: NAME or NAME@VERSION.")
    models: list[ModelConfig] = Field(
        default_factory=list,
        description="Models to run every prompt on; default: each prompt's own.",
    )
    evalsets: list[str] = Field(
        min_length=1, description="Golden set names (in evalsets/) or paths."
    )
    scorers: list[dict[str, Any]] = Field(
        min_length=1, description="Scorer options, each with `type`."
    )
    metrics: list[Literal["accuracy", "macro_f1", "per_label", "confusion"]] = Field(
        default_factory=list, description="Suite-level label metrics (scikit-learn)."
    )
    repeat: int = Field(1, ge=1, le=100)
    pass_threshold: float = Field(1.0, ge=0, le=1, description="Share of cases that must pass.")
    max_error_rate: float = Field(
        0.05, ge=0, le=1, description="Share of provider errors tolerated."
    )
    max_concurrency: int = Field(32, ge=1, le=4096)
    seed: int = 0
    filter: str | None = Field(
        None, description="Default case filter (see `driftgate run --filter`)."
    )

    @field_validator("models", mode="before")
    @classmethod
    def _models_from_strings(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"id": m} if isinstance(m, str) else m for m in v]
        return v

    @field_validator("scorers")
    @classmethod
    def _scorers_have_type(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, s in enumerate(v):
            if not isinstance(s.get("type"), str):
                raise ValueError(
                    f"scorer #{i + 1} needs a `type` (e.g. equals, contains, label-match)"
                )
        return v


def load_suite(path: Path) -> Suite:
    from ._files import load_model

    return load_model(Suite, Path(path))
