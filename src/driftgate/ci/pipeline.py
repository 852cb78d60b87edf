"""`driftgate ci`: gate a pull request's prompt changes, base against head.

    report = run_ci(CIOptions(base="origin/main", summary=Path("gate.md")))
    report.exit_code   # 0 passed · 1 gate failed · 2 bad input · 3 provider errors

1. The changed files (`git diff BASE...HEAD`: against the merge base) and the suites that
   depend on them (`changes.py`); nothing relevant changed → nothing runs, exit 0.
2. Changed files must parse; one that does not fails the gate with an annotation on it.
3. Each affected suite is planned at the head and, from an exported snapshot of the merge
   base, at the base; each head arm is paired with the same arm at the base
   (`baseline.pair_arms`), and only the arms the change touched are gated
   (`baseline.changed_arms`); the others are reported unchanged and not run.
4. Cost guard: calls, cached share and price of everything still to run (`cost.py`);
   `--dry-run` stops here, `--budget-usd` refuses to go on above the budget.
5. The head's gated arms are run (through the response cache). Base results come from stored runs that
   are provably the same experiment (the head's own run included, when a change left an
   arm's inputs untouched); the rest is run in a temporary worktree of the merge base, with
   the head's runs folder and cache, so the next gate on these commits calls nothing.
6. Each gated head arm is gated against its base arm by its policy (`driftgate.gate`); the
   comparison feeds the comment, the annotations, JUnit and HTML (`driftgate.report.ci`
   and `driftgate.report.ci_outputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..workspace import Workspace
from .evaluate import Gate
from .options import CIOptions
from .schema import CIReport

__all__ = ["CIOptions", "run_ci"]


def run_ci(
    options: CIOptions,
    *,
    workspace: Workspace | Path | str | None = None,
    echo: Callable[[str], None] = print,
) -> CIReport:
    """Run the gate and return its report; bad input raises a DriftgateError (exit 2).
    Rendering and writing the outputs `options` names (comment, job summary, annotations,
    JUnit, HTML) is the report layer's: `driftgate.report.ci_outputs.write_outputs(report,
    options)`, or `write_failure(options, exc)` for bad input (`driftgate ci` calls both)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    return Gate(ws, options, echo).run()
