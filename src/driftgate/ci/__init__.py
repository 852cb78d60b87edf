"""The CI gate for prompt pull requests: `driftgate ci --base REF`.

    from driftgate.ci import CIOptions, run_ci

    report = run_ci(CIOptions(base="origin/main", summary=Path("gate.md")))
    report.exit_code        # 0 passed · 1 gate failed · 2 bad input · 3 provider errors
    report.suites[0].arms[0].verdict.summary()

Modules: `changes` (git diff → changed artifacts → dependent suites), `baseline` (base arms,
stored results, temporary worktrees), `cost` (dry-run estimate and budget), `judge` (one
arm's verdict), `summary` (the PR comment), `outputs` (annotations, job summary, JUnit,
HTML), `evaluate` + `pipeline` (the steps in order).
"""

from __future__ import annotations

from .model import (
    Annotation,
    ArmOutcome,
    CallEstimate,
    ChangedFile,
    CIReport,
    CostEstimate,
    SuiteOutcome,
    Usage,
)
from .pipeline import CIOptions, run_ci
from .summary import MARKER, gate_markdown

__all__ = [
    "MARKER",
    "Annotation",
    "ArmOutcome",
    "CIOptions",
    "CIReport",
    "CallEstimate",
    "ChangedFile",
    "CostEstimate",
    "SuiteOutcome",
    "Usage",
    "gate_markdown",
    "run_ci",
]
