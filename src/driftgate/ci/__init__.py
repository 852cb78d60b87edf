"""The CI gate for prompt pull requests: `driftgate ci --base REF`.

    from driftgate.ci import CIOptions, run_ci

    report = run_ci(CIOptions(base="origin/main"))
    report.exit_code        # 0 passed · 1 gate failed · 2 bad input · 3 provider errors
    report.suites[0].arms[0].verdict.summary()

Modules: `changes` (git diff → changed artifacts → dependent suites), `baseline` (base arms,
stored results, temporary worktrees), `cost` (dry-run estimate and budget), `judge` (one
arm's verdict), `evaluate` + `pipeline` (the steps in order), `options` (what the gate is asked). The outputs (the PR comment,
annotations, job summary, JUnit, HTML) are rendered by the report layer:
`driftgate.report.ci.gate_markdown`, and `driftgate.report.ci_outputs.write_outputs`, which
writes what `CIOptions` asks for from the report `run_ci` returns.
"""

from __future__ import annotations

from .options import CIOptions
from .pipeline import run_ci
from .schema import (
    Annotation,
    ArmOutcome,
    CallEstimate,
    ChangedFile,
    CIReport,
    CostEstimate,
    SuiteOutcome,
    Usage,
)

__all__ = [
    "Annotation",
    "ArmOutcome",
    "CIOptions",
    "CIReport",
    "CallEstimate",
    "ChangedFile",
    "CostEstimate",
    "SuiteOutcome",
    "Usage",
    "run_ci",
]
