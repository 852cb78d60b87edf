"""What `driftgate ci` is asked to do: the CLI's options as a model (`run_ci` takes it; the
report layer reads where to write the outputs from it)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from .._strict import Strict


class CIOptions(Strict):
    """What `driftgate ci` is asked to do (the CLI's options, as a model)."""

    base: str = Field(description="Base ref: the branch the pull request merges into.")
    head: str | None = Field(None, description="Head ref (default: the checked-out commit).")
    suites: list[str] = Field(default_factory=list, description="Only these suite files.")
    dry_run: bool = False
    budget_usd: float | None = Field(None, ge=0)
    summary: Path | None = None
    junit: Path | None = None
    html: Path | None = None
    policy: Path | None = None
    allow_dirty: bool = False
    max_flipped: int = Field(10, ge=0)
